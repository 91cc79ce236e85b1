"""The ``sampan`` command line registers only the sub-command it names, and command modules stay cheap to
import: the component packages load only when a handler runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sampan.cli import commands
from sampan.cli.kubelet import RUNTIMES as CLI_RUNTIMES
from sampan.cli.main import _command_of, build_parser
from sampan.cli.up import available_commands


def test_kubelet_runtime_choices_match_the_kubelet() -> None:
    from sampan.kubelet.kubelet import RUNTIMES

    assert CLI_RUNTIMES == RUNTIMES


def test_every_module_registers_exactly_its_commands() -> None:
    for module in set(commands.COMMANDS.values()):
        parser = build_parser(next(c for c, m in commands.COMMANDS.items() if m == module))
        sub = next(a for a in parser._actions if a.dest == "command")
        assert set(sub.choices or ()) == {c for c, m in commands.COMMANDS.items() if m == module}
    assert set(commands.MODULES) == set(commands.COMMANDS.values())


def test_full_parser_knows_every_command() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices or ()) == set(commands.COMMANDS) == available_commands()


@pytest.mark.parametrize(("argv", "command"), [
    (["up", "--detach"], "up"), (["-v", "kubelet"], "kubelet"), (["-vv", "down"], "down"),
    (["--verbose", "status"], "status"), (["--help"], None), (["--version"], None), ([], None),
    (["nonsense"], "nonsense"),
])
def test_command_of(argv: list[str], command: str | None) -> None:
    assert _command_of(argv) == command


def test_unknown_command_still_lists_every_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(_command_of(["nonsense"])).parse_args(["nonsense"])
    assert "controller-manager" in capsys.readouterr().err


def test_parser_building_imports_no_component() -> None:
    code = ("import sys; from sampan.cli.main import build_parser; build_parser(); "
            "heavy = [m for m in ('sampan.apiserver.app', 'sampan.scheduler.app', 'sampan.kubelet.kubelet', "
            "'sampan.controllers.manager', 'sampan.client', 'aiohttp') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
