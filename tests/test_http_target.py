"""The ``http/<target.yaml>`` backend against local fake apps: JSON, form, GET, session cookie, conversation id."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fake_apps import running_apps
from tianping.core import GenerationParams, Message, Request
from tianping.models.errors import AuthError, BadRequest, ReplyTooLarge
from tianping.spec import ModelSpec
from tianping.targets import TargetError, create_http_backend, load_target
from tianping.targets.http import UnreadableReply

HOSTILE = 'say "hi" \\ {{ 7*7 }} {% raw %} & q=1&x=2 </div> 你好\nline two'


def _target(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _ask(path: Path, *messages: Message, **spec: object) -> tuple[str, str | None, int]:
    async def go() -> tuple[str, str | None, int]:
        backend = create_http_backend(ModelSpec(id=f"http/{path}", **spec))
        try:
            response = await backend.generate(Request(model="m", messages=messages, params=GenerationParams()))
        finally:
            await backend.aclose()
        return response.first.text, response.first.raw, response.attempts

    return asyncio.run(go())


JSON_APP = """
name: json-bot
url: {root}/json/chat
headers:
  X-Api-Key: "${{FAKE_APP_KEY}}"
body:
  json: '{{"message": {{{{ prompt | json }}}}, "meta": {{"turn": {{{{ turn }}}}, "sid": {{{{ session_id | json }}}}}}}}'
reply:
  json_path: $.data.answer
"""


def test_json_app_gets_the_prompt_intact_and_the_secret_header(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_APP_KEY", "k-123-secret")
    with running_apps(api_key="k-123-secret") as apps:
        path = _target(tmp_path, JSON_APP.format(root=apps.root))
        text, raw, _ = _ask(path, Message("user", HOSTILE))
        _, headers, body = apps.received[-1]
    assert text == f"You said: {HOSTILE}"
    assert raw is None
    assert json.loads(body) == {"message": HOSTILE, "meta": {"turn": 0, "sid": None}}
    assert headers["X-Api-Key"] == "k-123-secret" and headers["Content-Type"] == "application/json"


def test_a_rejected_secret_is_masked_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_APP_KEY", "wrong-secret-value")
    with running_apps(api_key="right") as apps:
        path = _target(tmp_path, JSON_APP.format(root=apps.root))
        with pytest.raises(AuthError) as err:
            _ask(path, Message("user", "hi"))
    assert "HTTP 401" in str(err.value) and "bad key ***" in str(err.value)
    assert "wrong-secret-value" not in str(err.value)


def test_form_app_form_encodes_the_prompt_and_a_regex_reads_the_page(tmp_path):
    with running_apps() as apps:
        path = _target(
            tmp_path,
            f"""
url: {apps.root}/form/ask
body:
  form: {{q: "{{{{ prompt }}}}"}}
reply:
  regex: '<div id="answer">(.*?)</div>'
""",
        )
        text, _, _ = _ask(path, Message("user", HOSTILE))
        _, headers, body = apps.received[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "q=1&x=2" not in body  # the prompt's own '&' and '=' are encoded, not new fields
    import html

    assert html.unescape(text) == f"You said: {HOSTILE}"


def test_get_app_takes_the_prompt_in_the_query(tmp_path):
    with running_apps() as apps:
        path = _target(tmp_path, f"url: {apps.root}/get/ask\nmethod: GET\nquery: {{q: '{{{{ prompt }}}}'}}\n"
                       "reply: {json_path: $.answer}\n")  # fmt: skip
        text, _, _ = _ask(path, Message("user", HOSTILE))
    assert text == f"You said: {HOSTILE}"


def _remembers(turns: list[str]) -> str:
    return f"turn {len(turns)}: heard " + " | ".join(turns)


SESSION_APP = """
url: {root}/session/chat
body:
  json: '{{"text": {{{{ prompt | json }}}}}}'
reply: {{json_path: $.reply}}
session: {{cookies: true}}
"""


def test_a_conversation_is_replayed_over_one_cookie_session(tmp_path):
    conversation = (
        Message("system", "be terse"),
        Message("user", "one"),
        Message("assistant", "a fabricated answer the app never gave"),
        Message("user", "two"),
        Message("assistant", "another"),
        Message("user", "three"),
    )
    with running_apps(_remembers) as apps:
        path = _target(tmp_path, SESSION_APP.format(root=apps.root))
        text, raw, _ = _ask(path, *conversation)
        again, _, _ = _ask(path, Message("user", "fresh"))
        sessions = dict(apps.sessions)
    # the system prompt no template reads goes before the first user turn; assistant turns are not sent
    assert text == "turn 3: heard be terse\n\none | two | three"
    assert [t["reply"] for t in json.loads(raw)][0] == "turn 1: heard be terse\n\none"
    assert again == "turn 1: heard fresh"  # a new sample is a new conversation (a fresh cookie jar)
    assert sorted(len(v) for v in sessions.values()) == [1, 3]


def test_concurrent_conversations_keep_their_own_cookies(tmp_path):
    with running_apps(_remembers) as apps:
        path = _target(tmp_path, SESSION_APP.format(root=apps.root))

        async def go() -> list[str]:
            backend = create_http_backend(ModelSpec(id=f"http/{path}"))
            try:
                asks = [
                    backend.generate(Request(model="m", messages=(Message("user", f"a{i}"), Message("user", f"b{i}"))))
                    for i in range(6)
                ]
                return [r.first.text for r in await asyncio.gather(*asks)]
            finally:
                await backend.aclose()

        texts = asyncio.run(go())
    assert texts == [f"turn 2: heard a{i} | b{i}" for i in range(6)]


def test_a_conversation_id_from_the_first_reply_goes_into_later_urls(tmp_path):
    with running_apps(_remembers) as apps:
        path = _target(
            tmp_path,
            f"""
url: "{apps.root}/conv/{{{{ session_id or 'new' }}}}/messages"
body: {{json: '{{"text": {{{{ prompt | json }}}}}}'}}
reply: {{json_path: $.reply}}
session:
  cookies: false
  id: {{json_path: $.conversation_id}}
""",
        )
        text, _, _ = _ask(path, Message("user", "x"), Message("user", "y/../z"))
        paths = [p for p, _, _ in apps.received]
    assert text == "turn 2: heard x | y/../z"
    assert paths[0] == "/conv/new/messages" and paths[1].startswith("/conv/c") and paths[1] != paths[0]


def test_single_turn_targets_refuse_conversations_and_history_targets_send_them(tmp_path):
    with running_apps(lambda turns: turns[-1]) as apps:
        single = _target(tmp_path, JSON_APP.format(root=apps.root).replace('"${FAKE_APP_KEY}"', "x"), "s.yaml")
        with pytest.raises(BadRequest, match="conversation of 2 user turns"):
            _ask(single, Message("user", "a"), Message("user", "b"))
        history = _target(
            tmp_path,
            f"url: {apps.root}/json/chat\nbody: {{json: '{{\"message\": {{{{ messages | json }}}}}}'}}\n"
            "reply: {json_path: $.data.answer}\n",
            "h.yaml",
        )
        assert load_target(history).turns == "history"
        text, _, _ = _ask(history, Message("user", "a"), Message("assistant", "b"), Message("user", "c"))
    assert json.loads(text) == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]


def test_transient_failures_are_retried_and_hard_ones_are_not(tmp_path):
    with running_apps() as apps:
        body = "body: {json: '{\"message\": {{ prompt | json }}}'}\n"
        flaky = _target(tmp_path, f"url: {apps.root}/fail/2\n{body}reply: {{json_path: $.data.answer}}\n", "f.yaml")
        text, _, attempts = _ask(flaky, Message("user", "hi"), max_retries=3)
        assert (text, attempts) == ("You said: hi", 3)
        big = _target(tmp_path, f"url: {apps.root}/big\nbody: {{json: '{{{{ prompt | json }}}}'}}\n"
                      "limits: {max_reply_kb: 64}\n", "b.yaml")  # fmt: skip
        with pytest.raises(ReplyTooLarge, match="64 KiB"):
            _ask(big, Message("user", "hi"))
        moved = _target(tmp_path, f"url: {apps.root}/redirect\nbody: {{json: '{{{{ prompt | json }}}}'}}\n", "r.yaml")
        with pytest.raises(BadRequest, match="redirect to http://example.invalid/elsewhere is not followed"):
            _ask(moved, Message("user", "hi"))
        unread = _target(tmp_path, f"url: {apps.root}/get/ask\nmethod: GET\nquery: {{q: '{{{{ prompt }}}}'}}\n"
                         "reply: {json_path: $.nothing}\n", "u.yaml")  # fmt: skip
        with pytest.raises(UnreadableReply, match=r"u.yaml: reply.json_path: \$.nothing matches nothing"):
            _ask(unread, Message("user", "hi"))


def test_the_rate_limit_spaces_requests(tmp_path):
    with running_apps() as apps:
        path = _target(tmp_path, f"url: {apps.root}/get/ask\nmethod: GET\nquery: {{q: '{{{{ prompt }}}}'}}\n"
                       "reply: {json_path: $.answer}\nlimits: {rpm: 600}\n")  # fmt: skip

        async def go() -> float:
            backend = create_http_backend(ModelSpec(id=f"http/{path}"))
            start = time.monotonic()
            try:
                await asyncio.gather(*(backend.generate(Request(model="m", prompt=f"p{i}")) for i in range(4)))
            finally:
                await backend.aclose()
            return time.monotonic() - start

        elapsed = asyncio.run(go())
    assert elapsed >= 0.3  # four starts 0.1 s apart


BAD_TARGETS = [
    ("url: http://x\nbody: {json: '{{ prompt | json }}'}\nretries: 3\n", "retries: unknown field"),
    ("url: ftp://x\nbody: {json: '{{ prompt | json }}'}\n", "url: must start with http"),
    ("url: http://x\nbody: {json: '{\"m\": \"{{ prompt }}\"}'}\n", "body.json: insert every value"),
    ("url: http://x\nbody: {json: '{\"m\": {{ prompt | json }}'}\n", "body.json: does not render valid JSON"),
    ("url: http://x\nbody: {json: '{{ promt | json }}'}\n", "unknown variable 'promt'; did you mean prompt?"),
    ("url: http://x\nbody: {json: '{{ prompt | json }'}\n", "body.json: template error on line 1"),
    ("url: http://x\nbody: {json: '{{ prompt.__class__ | json }}'}\n", "body.json: refused by the template sandbox"),
    ("url: http://x\nbody: {json: '{{ prompt | json }}'}\nreply: {json_path: '$..[['}\n", "reply.json_path: not a"),
    ("url: http://x\nbody: {json: '{{ prompt | json }}'}\nreply: {regex: '('}\n", "reply.regex: not a valid"),
    ("url: http://x\nheaders: {Authorization: 'Bearer ${TP_NOT_SET_ANYWHERE}'}\nbody: {json: '{{ prompt | json }}'}\n",
     "headers.Authorization: environment variable TP_NOT_SET_ANYWHERE is not set"),
    ("url: http://x\nbody: {json: '{}'}\n", "body: no template inserts the prompt"),
    ("url: http://x\nmethod: GET\nbody: {form: {q: '{{ prompt }}'}}\n", "a GET request has no body"),
    ("url: http://x\nbody: {json: '{{ prompt | json }}'}\nturns: session\n", "turns: session needs a 'session'"),
    ("url: http://x\n  body: [\n", "line 2: not valid YAML"),
    ("- just a list\n", "a target file is a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "needle"), BAD_TARGETS)
def test_a_bad_target_file_is_an_error_naming_the_file_and_field(tmp_path, text, needle):
    path = _target(tmp_path, text, "bad-target.yaml")
    with pytest.raises(TargetError) as err:
        load_target(path)
    assert str(err.value).startswith(f"{path}: ") and needle in str(err.value), str(err.value)


def test_a_missing_target_file_is_named(tmp_path):
    with pytest.raises(TargetError, match="nope.yaml: target file not found"):
        load_target(tmp_path / "nope.yaml")


def test_several_completions_are_several_conversations(tmp_path):
    with running_apps(_remembers) as apps:
        path = _target(tmp_path, SESSION_APP.format(root=apps.root))

        async def go() -> list[str]:
            backend = create_http_backend(ModelSpec(id=f"http/{path}"))
            try:
                asked = Request(model="m", messages=(Message("user", "a"), Message("user", "b")),
                                params=GenerationParams(n=3))  # fmt: skip
                return [c.text for c in (await backend.generate(asked)).completions]
            finally:
                await backend.aclose()

        texts = asyncio.run(go())
        sessions = list(apps.sessions.values())
    assert texts == ["turn 2: heard a | b"] * 3 and len(sessions) == 3
