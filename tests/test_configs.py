"""Named training recipes and loading them from YAML/JSON files."""

from __future__ import annotations

import json
import re

import pytest

from course_lib.configs import (
    StageConfig,
    config_from_dict,
    config_names,
    config_to_dict,
    get_config,
    load_config,
    save_config,
    with_epochs,
)
from course_lib.models import model_names


def test_article_001_two_stage_recipe():
    config = get_config("transfer_vgg16")
    assert (config.model, config.weights, config.batch_size, config.seed) == (
        "vgg16_transfer",
        "IMAGENET1K_V1",
        64,
        42,
    )
    assert config.num_classes is None  # from the data: 200 on the full Tiny ImageNet
    head, finetune = config.stages
    assert (head.epochs, head.trainable, head.optimizer) == (10, ("classifier",), "adam")
    assert (head.base_lr, head.max_lr, head.step_size_up) == (1e-4, 6e-4, 1404)
    assert (finetune.epochs, finetune.trainable) == (5, None)
    assert (finetune.base_lr, finetune.max_lr, finetune.step_size_up) == (1e-5, 6e-5, 1200)
    assert head.cyclic_mode == finetune.cyclic_mode == "triangular2"
    assert config.augment.crop_scale == 56 / 64 and config.augment.flip
    assert config.val_fraction == 0.05 and config.epochs == 15


def test_article_003_age_recipe():
    config = get_config("age_convnext_tiny")
    assert (config.model, config.weights, config.batch_size, config.image_size) == (
        "convnext_age",
        "IMAGENET1K_V1",
        32,
        224,
    )
    (stage,) = config.stages
    assert (stage.optimizer, stage.lr, stage.epochs, stage.scheduler) == ("adam", 1e-4, 5, None)
    assert (config.augment.brightness, config.augment.contrast) == (0.2, 0.2)
    assert config.augment.flip and config.augment.crop_scale is None


@pytest.mark.parametrize("name", config_names())
def test_every_named_config_round_trips_and_names_a_model(name, tmp_path):
    config = get_config(name)
    assert config.model in model_names()
    assert config_from_dict(config_to_dict(config)) == config
    for suffix in (".yaml", ".json"):
        path = save_config(config, tmp_path / f"config{suffix}")
        assert load_config(path) == config


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        get_config("transfer_demo").batch_size = 3  # type: ignore[misc]


def test_yaml_file_overrides_a_named_recipe(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("base: transfer_vgg16\nname: mine\nbatch_size: 32\naugment:\n  hue: null\n")
    config = load_config(path)
    assert (config.name, config.batch_size, config.augment.hue) == ("mine", 32, None)
    assert config.augment.saturation == (0.5, 2.0)  # kept from the base
    assert config.stages == get_config("transfer_vgg16").stages


@pytest.mark.parametrize(
    ("data", "where", "key", "valid"),
    [
        ({"base": "age_demo", "learning_rate": 0.1}, "bad.json", "learning_rate", "name, task"),
        ({"base": "age_demo", "stages": [{"epoch": 1}]}, "stages[0]", "epoch", "name, epochs"),
        ({"base": "age_demo", "augment": {"blur": 1.0}}, "augment", "blur", "crop_scale, flip"),
    ],
)
def test_unknown_keys_are_named_with_the_valid_ones(tmp_path, data, where, key, valid):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    expected = f"{where}: unknown key '{key}'; valid keys: {valid}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_config(path)


def test_bad_names_files_and_values(tmp_path):
    with pytest.raises(ValueError, match="known configs: .*transfer_vgg16"):
        load_config("transfer_vgg19")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="task must be one of"):
        config_from_dict({"base": "age_demo", "task": "detect"})
    with pytest.raises(ValueError, match="stage names must be unique"):
        config_from_dict({"base": "age_demo", "stages": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ValueError, match="'stages' must list at least one stage"):
        config_from_dict({"name": "x", "task": "age", "model": "convnext_mini_age"})


def test_with_epochs_sets_every_stage():
    config = with_epochs(get_config("transfer_vgg16"), 1)
    assert [stage.epochs for stage in config.stages] == [1, 1]
    assert config.stages[0].step_size_up == 1404
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        with_epochs(config, 0)
    assert StageConfig().scheduler is None
