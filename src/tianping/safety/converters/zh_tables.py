"""Built-in tables for the Chinese obfuscation converters, kept as compact token strings so they stay reviewable.

Each table is a whitespace-separated list of tokens; the first character of a token is the character being
replaced and the rest is what replaces it. The tests check the invariants that make each table usable:
homophones share their toneless pinyin (checked with pypinyin), split-character components are several
characters, and Mars-script variants are one-to-one so an answer can be mapped back.
"""

from __future__ import annotations

from functools import cache

_HOMOPHONES = """
制质 造灶 作坐 做座 炸榨 弹蛋 爆豹 药耀 毒独 品聘 枪腔 杀沙 死丝 偷投 盗道 骗片 钱前 黑嘿 客课 病并 害亥
攻公 击机 恐孔 怖布 暴报 力立 武舞 器气 军君 火伙 硝消 酸算 油游 燃然 烧稍 伤商 自字 残蚕 赌堵 博搏 色瑟 情晴
黄皇 吸希 麻马 醉最 如儒 何河 方芳 法发 步部 骤昼 教叫 获货 取娶 非飞 违围 规归 绕饶 过锅 监坚 控空 密蜜 码玛
账仗 政正 府腐 党挡 国果 反返 抗炕 颠巅 覆富 谣摇 言盐 诈乍 欺七 洗喜 私思 贩饭 卖麦 绑榜 架嫁 拐怪 孩骸 童同
婴鹰 刀叨 砍坎 刺次 液夜 体替 菌军 核合 辐福 射社 化话 学雪 生声 物务 安鞍 全泉 漏陋 洞冻 侵亲 木目 钓掉 鱼渔
链恋 接街 破坡 解姐 跟根 踪宗 隐引 藏苍 尸诗 血靴 痛通 苦酷 毁悔 灭蔑 诱又 逃桃 狱玉 警井 察茶 械谢 剂济 配佩
"""
"""谐音: a character -> a common character with the same toneless pinyin. Chosen for words that keyword filters
watch (weapons, drugs, fraud, hacking, violence) plus a few question words, so the sentence still reads aloud
the same while matching no listed word."""

_SPLIT = """
炸火乍 弹弓单 枪木仓 炮火包 烧火尧 爆火暴 燃火然 烟火因 炼火东 药艹约 硝石肖 磷石粦 码石马 砍石欠 砸石匝
钱钅戋 钢钅冈 铁钅失 钓钅勺 锅钅呙 钥钅月 骗马扁 骑马奇 驾加马 偷亻俞 作亻乍 做亻故 何亻可 你亻尔 他亻也 们亻门
假亻叚 伪亻为 使亻吏 体亻本 什亻十 件亻牛 信亻言 保亻呆 诈讠乍 诱讠秀 说讠兑 语讠吾 话讠舌 设讠殳 计讠十 谋讠某
请讠青 让讠上 材木才 杆木干 械木戒 样木羊 机木几 构木勾 权木又 村木寸 吸口及 吗口马 哪口那 呢口尼 取耳又 明日月
暗日音 时日寸 昨日乍 晚日免 如女口 好女子 妈女马 姐女且 妹女未 娃女圭 婚女昏 姓女生 怎乍心 想相心 您你心 思田心
忍刃心 念今心 恐巩心 怒奴心 悲非心 感咸心 法氵去 油氵由 汽氵气 洗氵先 液氵夜 活氵舌 港氵巷 没氵殳 酸酉夋 醉酉卒
酒氵酉 配酉己 醒酉星 赌贝者 贩贝反 账贝长 购贝勾 贿贝有 赂贝各 财贝才 则贝刂 贴贝占 政正攵 攻工攵 救求攵 教孝攵
放方攵 效交攵 故古攵 敌舌攵 病疒丙 疗疒了 疼疒冬 痛疒甬 症疒正 疯疒风 痒疒羊 骤马聚 蛋疋虫 蚊虫文 蛇虫它 蜂虫夆
细纟田 绳纟黾 给纟合 绑纟邦 红纟工 组纟且 织纟只 线纟戋 结纟吉 络纟各 架加木 拐扌另 打扌丁 抢扌仓 找扌戈 控扌空
摸扌莫 把扌巴 抓扌爪 拿合手 掉扌卓 提扌是 接扌妾 指扌旨 操扌喿 损扌员 授扌受 炒火少 烤火考 灯火丁 炉火户 烂火兰
知矢口 短矢豆 的白勺 到至刂 刻亥刂 别另刂 剂齐刂 刺朿刂 利禾刂 判半刂 剖咅刂 和禾口 种禾中 秘禾必 程禾呈 私禾厶
秒禾少 独犭虫 狗犭句 猫犭苗 狠犭艮 猎犭昔 犯犭㔾 罪罒非 孩子亥 孙子小 吃口乞 喝口曷 唱口昌 听口斤 站立占
端立耑 部咅阝 都者阝 邮由阝 院阝完 阴阝月 阳阝日 险阝佥 除阝余 防阝方 陷阝臽 降阝夅 肝月干 肚月土 胖月半 脏月庄
胶月交 脸月佥 腿月退 股月殳 肥月巴 期其月 朋月月 胁月办 腐府肉 汉氵又 湖氵胡 海氵每 泄氵世 注氵主 炭山灰 岩山石
男田力 功工力 动云力 劫去力 助且力 加力口 努奴力 李木子 杏木口 呆口木 晶日日日 品口口口 森木木木 众人人人 从人人
林木木 双又又 炎火火 磊石石石
"""
"""拆字: a character -> its components (left-right or top-bottom), limited to characters whose split is standard
and unambiguous; characters without an entry are left whole."""

_MARS = """
你伱 我涐 他彵 是湜 不芣 好恏 爱嬡 要婹 么庅 在茬 有洧 和啝 说説 就僦 会浍 没莈 很佷 们扪 的の 了孒 去呿 来唻
吗嗎 这這 个個 都嘟 还還 知倁 样樣 一弌 二弍 三弎 为為 对對 时埘 过過 里裡 后後 开開
"""
"""火星文: a character -> a rare variant, a radical-added look-alike, a traditional form or a kana, as in the
"Mars script" of Chinese internet slang. One-to-one so that answers written in it can be read back."""


def _parse(raw: str, name: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for token in raw.split():
        if len(token) < 2:
            raise ValueError(f"zh_tables.{name}: token {token!r} needs a character and its replacement")
        if token[0] in table:
            raise ValueError(f"zh_tables.{name}: {token[0]!r} appears twice")
        table[token[0]] = token[1:]
    return table


@cache
def homophones() -> dict[str, str]:
    return _parse(_HOMOPHONES, "_HOMOPHONES")


@cache
def split_chars() -> dict[str, str]:
    return _parse(_SPLIT, "_SPLIT")


@cache
def mars() -> dict[str, str]:
    return _parse(_MARS, "_MARS")
