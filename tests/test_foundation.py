"""Tests of the top-level modules every layer uses: errors, registry, atomic writes, CLI entry."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from lamina.atomic import atomic_path, atomic_write_text
from lamina.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DependencyError,
    LaminaError,
    ModelError,
    NotSupportedError,
    UsageError,
    did_you_mean,
)
from lamina.registry import Registry

ALL_ERRORS = [
    LaminaError,
    ConfigError,
    DataError,
    UsageError,
    ModelError,
    CheckpointError,
    NotSupportedError,
    DependencyError,
]


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_errors_pickle_round_trip_keeps_message_hint_and_class(cls: type[LaminaError]) -> None:
    exc = cls("net.json: Layers[1].N must be ...", hint="set N")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls
    assert back.message == exc.message and back.hint == "set N"
    assert str(back) == "net.json: Layers[1].N must be ...\n- help: set N"


def test_exit_codes_bad_input_is_2_failure_1_missing_extra_3() -> None:
    assert {cls.exit_code for cls in (ConfigError, DataError, UsageError, NotSupportedError)} == {2}
    assert ModelError.exit_code == CheckpointError.exit_code == 1
    err = DependencyError.missing("ray", "search")
    assert err.exit_code == 3 and "lamina[search]" in str(err)


def test_did_you_mean_is_case_insensitive_and_quiet_when_nothing_is_close() -> None:
    assert did_you_mean("sigmod", ["Sigmoid", "Tanh"]) == " Did you mean 'Sigmoid'?"
    assert did_you_mean("zzzz", ["Sigmoid", "Tanh"]) == ""


def test_registry_resolves_aliases_in_any_case_and_lists_names_on_a_miss() -> None:
    reg: Registry[int] = Registry("activation")
    reg.register("Sigmoid", 0)
    reg.register("RectifiedLinear", 2, aliases=("ReLU",))
    assert reg.get("RELU") == 2 and reg.get("rectifiedlinear") == 2
    assert reg.canonical("relu") == "RectifiedLinear"
    assert "ReLU" in reg and "Relu6" not in reg
    assert reg.all_spellings() == ["Sigmoid", "RectifiedLinear", "ReLU"]
    with pytest.raises(ConfigError) as info:
        reg.get("Sigmod", path="Layers[2].Activation")
    msg = str(info.value)
    assert msg.startswith(
        "Layers[2].Activation must be one of [Sigmoid, RectifiedLinear]. Got 'Sigmod'."
    )
    assert "Did you mean 'Sigmoid'?" in msg
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("relu", 5)


def test_atomic_path_replaces_only_on_success(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_cli_help_lists_commands_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from lamina.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'generate-netcdf' in r.output and 'config' in r.output\n"
        "print('torch' in sys.modules, 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_python_dash_m_lamina_runs_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lamina", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().startswith("lamina, version ")


def test_atomic_output_gets_the_umask_mode_not_mkstemps_0600(tmp_path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "recs.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "recs.txt").stat().st_mode & 0o777 == 0o644
