"""Loading plugins: from a folder, a module name, an installed entry point; per-bot subsets; settings
validation; every start-up failure names the file, the plugin and the reason."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.errors import ConfigError, PluginError
from bots.plugin import Plugin
from bots.runtime import App
from tests.bots.plugin_app import app_config, load

DICE = '''
from pydantic import BaseModel
from bots.plugin import Plugin

class Settings(BaseModel):
    max: int = 6

plugin = Plugin("{name}", description="Roll dice", config=Settings)

@plugin.command("{command}", "Roll a die")
async def roll(ctx, sides: int = 6) -> None:
    await ctx.reply(f"rolled d{{sides}} of at most {{plugin.settings.max}}")
'''


def _write(folder: Path, file: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    """A folder on ``sys.path`` (importable modules, dist-info entry points); removed afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:
            if name.startswith(("dicemod", "voicebots_plugin_dirs", "epdice")):
                del sys.modules[name]


def test_plugin_dirs_are_relative_to_the_config_file_and_register_commands(tmp_path: Path) -> None:
    _write(tmp_path / "plugins", "dice.py", DICE.format(name="dice", command="roll"))
    _write(tmp_path / "plugins", "_private.py", "raise RuntimeError('underscore files are not plugins')")
    config = load(app_config(tmp_path, plugin_dirs=["plugins"], plugin_config={"dice": {"max": 20}}), tmp_path)
    registry = config.registry
    assert registry.names() == ["builtin", "dice"]
    dice = registry.plugins[1]
    assert [c.name for c in dice.commands] == ["roll"] and dice.settings.max == 20
    assert registry.loaded[1].source.endswith("plugins/dice.py")


def test_a_module_name_loads_from_the_path(tmp_path: Path, on_path: Path) -> None:
    _write(on_path / "dicemod", "__init__.py", "")
    _write(on_path / "dicemod", "weather.py", DICE.format(name="weather", command="forecast"))
    config = load(app_config(tmp_path, plugins=["dicemod.weather"]), tmp_path)
    assert config.registry.names() == ["builtin", "weather"]
    assert "module dicemod.weather" in config.registry.loaded[1].source


def test_an_installed_entry_point_loads_by_its_name(tmp_path: Path, on_path: Path) -> None:
    _write(on_path, "epdice.py", DICE.format(name="epdice", command="eproll"))
    dist = on_path / "epdice_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: epdice-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[voicebots.plugins]\nepdice = epdice:plugin\n")
    config = load(app_config(tmp_path, plugins=["epdice"]), tmp_path)
    assert config.registry.names() == ["builtin", "epdice"]
    assert config.registry.loaded[1].source == "entry point epdice = epdice:plugin of epdice-plugin"


def test_per_bot_plugins_choose_a_subset(tmp_path: Path) -> None:
    _write(tmp_path / "plugins", "dice.py", DICE.format(name="dice", command="roll"))
    _write(tmp_path / "plugins", "coin.py", DICE.format(name="coin", command="flip"))
    bot = {"name": "a", "engines": [{"kind": "echo"}]}
    raw = app_config(tmp_path, bots=[{**bot, "plugins": ["coin"]}, {**bot, "name": "z"}], plugin_dirs=["plugins"])
    app = App(load(raw, tmp_path), tmp_path)
    names = [[c.name for c in b.services.commands] for b in app.bots]  # type: ignore[union-attr]
    assert names[0] == ["start", "help", "reset", "voice", "voices", "unanswered", "flip"]
    assert names[1] == ["start", "help", "reset", "voice", "voices", "unanswered", "flip", "roll"]
    raw["bots"][0]["plugins"] = ["dise"]
    with pytest.raises(PluginError, match=r"bots.0.plugins: unknown plugin 'dise' \(did you mean 'dice'\?\); known: coin, dice"):
        load(raw, tmp_path)


def test_settings_that_do_not_validate_stop_start_up_naming_the_plugin(tmp_path: Path) -> None:
    _write(tmp_path / "plugins", "dice.py", DICE.format(name="dice", command="roll"))
    raw = app_config(tmp_path, plugin_dirs=["plugins"], plugin_config={"dice": {"max": "lots"}})
    with pytest.raises(PluginError) as info:
        load(raw, tmp_path)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'config.yaml'}: plugin_config.dice (plugin dice, ")
    assert "plugins/dice.py): max: Input should be a valid integer" in text
    with pytest.raises(PluginError, match=r"plugin_config: unknown plugin 'dcie' \(did you mean 'dice'\?\)"):
        load(app_config(tmp_path, plugin_dirs=["plugins"], plugin_config={"dcie": {}}), tmp_path)


def test_a_plugin_that_fails_to_import_names_file_plugin_and_reason(tmp_path: Path) -> None:
    _write(tmp_path / "plugins", "broken.py", "import math\nvalue = 1 / 0\n")
    with pytest.raises(PluginError) as info:
        load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    text = str(info.value)
    assert "plugin 'broken' (" in text and "plugins/broken.py): import failed: ZeroDivisionError: division by zero" in text
    assert "line 2" in text


def test_unknown_module_missing_folder_and_no_plugin_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"plugin 'no_such_plugin_xyz': no module of that name and no installed entry point"):
        load(app_config(tmp_path, plugins=["no_such_plugin_xyz"]), tmp_path)
    with pytest.raises(PluginError, match=r"plugin_dirs: 'nowhere': no such folder"):
        load(app_config(tmp_path, plugin_dirs=["nowhere"]), tmp_path)
    _write(tmp_path / "plugins", "empty.py", "X = 1\n")
    with pytest.raises(PluginError, match=r"plugins/empty.py: defines no Plugin"):
        load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)


def test_plugin_engine_kind_validates_and_a_kind_taken_twice_is_refused(tmp_path: Path) -> None:
    engine = '''
    from pydantic import BaseModel, Field
    from bots.plugin import Plugin
    from core.engines.echo import EchoEngine

    class ShoutConfig(BaseModel):
        loud: int = Field(default=1, ge=1)

    plugin = Plugin("{name}")

    @plugin.engine("{kind}", config=ShoutConfig)
    def make(config):
        return EchoEngine("!" * config.loud)
    '''
    _write(tmp_path / "plugins", "shout.py", engine.format(name="shout", kind="shout"))
    bot = {"name": "b", "engines": [{"kind": "shout", "loud": 0}]}
    with pytest.raises(ConfigError, match=r"bots.0.engines.0.loud: Input should be greater than or equal to 1"):
        load(app_config(tmp_path, bots=[bot], plugin_dirs=["plugins"]), tmp_path)
    with pytest.raises(ConfigError, match=r"unknown engine kind 'shuot' \(did you mean 'shout'\?\); known: echo, .*shout"):
        load(app_config(tmp_path, bots=[{"name": "b", "engines": [{"kind": "shuot"}]}], plugin_dirs=["plugins"]), tmp_path)
    _write(tmp_path / "plugins", "thief.py", engine.format(name="thief", kind="faq"))
    with pytest.raises(PluginError, match=r"plugin thief \(.*thief.py\): engine kind 'faq' is registered twice: by builtin and by thief"):
        load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)


def test_two_plugins_of_one_name_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "plugins", "a.py", DICE.format(name="dice", command="roll"))
    _write(tmp_path / "plugins", "b.py", DICE.format(name="dice", command="roll2"))
    with pytest.raises(PluginError, match=r"two plugins are named 'dice': .*a.py and .*b.py"):
        load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)


def test_bad_declarations_fail_where_they_are_written() -> None:
    plugin = Plugin("x")
    with pytest.raises(PluginError, match="command name 'Roll!'"):
        plugin.command("Roll!")
    with pytest.raises(PluginError, match="parameter 'when' must be str, int, float or bool"):

        @plugin.command("at")
        async def at(ctx: object, when: list[int]) -> None: ...

    with pytest.raises(PluginError, match="plugin name"):
        Plugin("Bad Name")
