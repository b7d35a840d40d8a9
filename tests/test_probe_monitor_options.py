"""A monitor config's ``ca_file`` and ``tokenizer``: resolved against the config's folder, loaded once at
load time (a bad one is a config error naming the endpoint and field), and handed to the endpoint's probe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tianping.serving.monitor import ConfigError, _default_probe, load_config

REF_TOKENIZER = Path(__file__).resolve().parents[1] / "src/tianping/refmodels/tp-ref-clean/tokenizer.json"
CERT = """-----BEGIN CERTIFICATE-----
not base64 at all
-----END CERTIFICATE-----
"""


def _config(folder: Path, extra: str) -> Path:
    path = folder / "monitor.yaml"
    path.write_text(
        "endpoints:\n  - name: local\n    model: m\n    base_url: https://127.0.0.1:1/v1\n" + extra, encoding="utf-8"
    )
    return path


def test_relative_tokenizer_path_is_found_beside_the_config(tmp_path, monkeypatch):
    shutil.copy(REF_TOKENIZER, tmp_path / "tok.json")
    monkeypatch.chdir(Path(__file__).parent)  # not the config's folder
    cfg = load_config(_config(tmp_path, "    tokenizer: tok.json\n"))
    assert cfg.endpoints[0].tokenizer == str(tmp_path / "tok.json")
    probe = _default_probe(cfg.endpoints[0], cfg)
    assert probe._count is not None and probe._count(" the the") == 2


def test_missing_ca_file_names_the_endpoint_and_field(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, "    ca_file: certs/ca.pem\n"))
    text = str(err.value)
    assert "monitor.yaml" in text and "endpoint 'local'" in text and "ca_file" in text and "ca.pem" in text


def test_junk_ca_file_and_unknown_tokenizer_are_config_errors(tmp_path):
    (tmp_path / "ca.pem").write_text(CERT)
    with pytest.raises(ConfigError, match=r"ca_file: CA file .*ca\.pem"):
        load_config(_config(tmp_path, "    ca_file: ca.pem\n"))
    with pytest.raises(ConfigError, match=r"tokenizer: .*no-such"):
        load_config(_config(tmp_path, "    tokenizer: ./no-such\n"))
