"""The contract language: every partner difference a checked field, versions by date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from pipelines.contracts import (
    CONTRACT_DIR,
    ContractError,
    contracts_sha256,
    load_contracts,
    parse_contract,
)

SHIPPED = yaml.safe_load((CONTRACT_DIR / "pasarnusa.yaml").read_text(encoding="utf-8"))


def write(folder: Path, document: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{document['partner']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_the_shipped_contracts_load() -> None:
    contracts = load_contracts(CONTRACT_DIR)
    assert len(contracts) == 6
    assert contracts["lkpp-ekatalog"].is_scheduled(date(2024, 1, 1))  # a Monday
    assert not contracts["lkpp-ekatalog"].is_scheduled(date(2024, 1, 2))
    assert contracts["lkpp-ekatalog"].latest_scheduled(date(2024, 1, 10)) == date(2024, 1, 8)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"cadence": "fortnightly"}, ["cadence", "'daily'", "'weekly'", "'monthly'"]),
        ({"cadence": "weekly"}, ["delivery_day", "monday"]),
        ({"csv": {"encoding": "latin-9", "separator": ","}}, ["csv.encoding", "iso-8859-1"]),
        ({"csv": {"encoding": "utf-8", "separator": "#"}}, ["csv.separator", "'|'"]),
        ({"region": {"province": "code"}}, ["region", "region_code"]),
        ({"listing_key": {"column": "shop_name"}}, ["listing_key", "shop_name"]),
        ({"not_counted": "mikro"}, ["not_counted", "ekatalog"]),
        (
            {"synthetic": {"model": "pasarnusa"}},
            ["synthetic.model", "'snapshot-csv'", "'catalogue-csv'"],
        ),
        (
            {"synthetic": {"model": "event-jsonl"}},
            ["synthetic", "marketplace jsonl", "['snapshot-csv', 'spreadsheet-delta-csv']"],
        ),
        ({"synthetic": {"model": "catalogue-csv"}}, ["synthetic", "ekatalog csv", "snapshot-csv"]),
    ],
)
def test_a_broken_contract_names_file_field_and_allowed_values(tmp_path: Path, change: dict, words: list[str]) -> None:  # fmt: skip
    path = write(tmp_path, {**SHIPPED, **change})
    with pytest.raises(ContractError) as error:
        load_contracts(tmp_path)
    message = str(error.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_a_bad_date_format_is_refused_at_load(tmp_path: Path) -> None:
    columns = [dict(c) for c in SHIPPED["columns"]]
    columns[-2]["parse"] = "dd/mm/yyyy"
    path = write(tmp_path, {**SHIPPED, "columns": columns})
    with pytest.raises(ContractError) as error:
        load_contracts(tmp_path)
    assert str(path) in str(error.value) and "columns.8 (joined_at).parse" in str(error.value)
    assert "'dmy_dot'" in str(error.value)


def test_versions_take_effect_on_their_date_and_hash_apart() -> None:
    renamed = [dict(c, name="store_name") if c["field"] == "name" else c for c in SHIPPED["columns"]]  # fmt: skip
    doc = {**SHIPPED, "versions": [
        {"from": "2024-02-01", "csv": {"separator": ";"}, "columns": renamed},
        {"from": "2024-03-01", "quarantine_threshold": 0.4},
    ]}  # fmt: skip
    contract = parse_contract(doc)
    first, second, third = (contract.on(date(2024, 1, 31)), contract.on(date(2024, 2, 1)),
                            contract.on(date(2024, 3, 5)))  # fmt: skip
    assert first.csv.separator == "," and second.csv.separator == ";"  # type: ignore[union-attr]
    assert second.csv.encoding == "utf-8"  # type: ignore[union-attr]  # merged, not replaced
    assert third.column_for("name").name == "store_name"  # type: ignore[union-attr]
    assert len({first.sha256, second.sha256, third.sha256}) == 3
    # adding a version leaves the earlier versions' hashes alone
    assert parse_contract(SHIPPED).sha256 == first.sha256
    changed = parse_contract({**doc, "versions": [doc["versions"][0], {"from": "2024-03-01", "quarantine_threshold": 0.3}]})  # fmt: skip
    assert changed.on(date(2024, 2, 1)).sha256 == second.sha256
    assert changed.on(date(2024, 3, 1)).sha256 != third.sha256


def test_the_generators_model_is_outside_the_hashes_and_the_versions() -> None:
    """It judges a delivery the same with or without `synthetic` (only the generator reads it),
    and a version may not change it."""
    bare = {k: v for k, v in SHIPPED.items() if k != "synthetic"}
    assert SHIPPED["synthetic"] == {"model": "snapshot-csv"}
    assert parse_contract(SHIPPED).sha256 == parse_contract(bare).sha256
    assert contracts_sha256({"p": parse_contract(SHIPPED)}) == contracts_sha256({"p": parse_contract(bare)})  # fmt: skip
    with pytest.raises(ContractError, match=r"versions\.0: \['synthetic'\] cannot change"):
        parse_contract({**SHIPPED, "versions": [{"from": "2024-01-01", "synthetic": {"model": "spreadsheet-delta-csv"}}]})  # fmt: skip


def test_a_version_cannot_change_who_delivers_or_when() -> None:
    with pytest.raises(ContractError, match=r"versions\.0: \['cadence'\] cannot change"):
        parse_contract({**SHIPPED, "versions": [{"from": "2024-01-01", "cadence": "monthly"}]})
    with pytest.raises(ContractError, match="not after"):
        parse_contract({**SHIPPED, "versions": [{"from": "2024-02-01"}, {"from": "2024-01-01"}]})


def test_umkm_refuses_a_broken_contract_with_status_2(tmp_path: Path) -> None:
    from tests.processes import umkm

    columns = [dict(c) for c in SHIPPED["columns"]]
    columns[-2]["parse"] = "iso-8601"
    path = write(tmp_path / "contracts", {**SHIPPED, "columns": columns})
    import os

    env = {**os.environ, "UMKM_CONTRACTS": str(path.parent)}
    out = umkm("generate", "--out", str(tmp_path / "landing"), "--start", "2024-01-01",
               "--end", "2024-01-01", env=env)  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"{path}: columns.8 (joined_at).parse: Input should be 'iso8601'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "landing").exists()
