"""Emotion model: heads, output scales, checkpoints that rebuild the model or refuse clearly."""

import math

import pytest
import torch

from emotrack.models.audio import CNN_MEL
from emotrack.models.backbones import BACKBONE_NAMES, audio_config_for
from emotrack.models.emotion import (
    DEAM_SCALE,
    PROBABILITY_SCALE,
    SIGN_SLOPE,
    CheckpointError,
    EmotionModel,
    LabelScale,
    ModelConfig,
    ValueOutput,
    atomic_save,
    build_model,
    checkpoint_dict,
    load_model,
    nine_to_unit,
    read_checkpoint,
    resolve_checkpoint,
    unit_to_nine,
)

LABELS = LabelScale(mean=(0.1, -0.2), std=(0.3, 0.4))
SMALL_CNN = ModelConfig(backbone="cnn", head_hidden=16, backbone_kwargs={"channels": (8, 16)})


def small_model(config: ModelConfig = SMALL_CNN) -> EmotionModel:
    torch.manual_seed(0)
    return build_model(config, LABELS).eval()


def predict(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def saved(model: EmotionModel, path, **extra):
    atomic_save(checkpoint_dict(model, **extra), path)
    return path


def test_scales_map_deam_static_to_dynamic_and_back():
    assert nine_to_unit(1.0) == -1.0 and nine_to_unit(5.0) == 0.0 and nine_to_unit(9.0) == 1.0
    x = torch.linspace(1, 9, 17)
    torch.testing.assert_close(unit_to_nine(nine_to_unit(x)), x)


@pytest.mark.parametrize(
    "name",
    [name for name in BACKBONE_NAMES if name not in ("mamba_vision_S", "mamba_vision_B")],
)
def test_every_backbone_gives_valence_and_arousal(name):
    kwargs = {"tiny": True} if name in ("ast", "wav2vec2") else {}
    model = build_model(ModelConfig(backbone=name, head_hidden=16, backbone_kwargs=kwargs))
    assert model.audio == audio_config_for(name)
    x = torch.randn(2, *model.audio.input_shape)
    z = predict(model, x)
    assert z.shape == (2, 2) and torch.isfinite(z).all()


def test_heads_are_separate_and_to_values_undoes_the_z_score():
    model = small_model()
    assert model.valence_head is not model.arousal_head
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    expected = torch.tensor(
        [
            [unit_to_nine(0.1), unit_to_nine(-0.2)],
            [unit_to_nine(0.1 + 0.3), unit_to_nine(-0.2 - 0.4)],
        ]
    )
    torch.testing.assert_close(model.to_values(z), expected)
    x = torch.randn(3, *CNN_MEL.input_shape)
    torch.testing.assert_close(predict(ValueOutput(model), x), model.to_values(predict(model, x)))


def test_set_labels_changes_the_output_scale():
    model = small_model()
    model.set_labels(LabelScale(mean=(0.0, 0.0), std=(0.25, 0.25)))
    torch.testing.assert_close(model.to_values(torch.ones(1, 2)), torch.full((1, 2), 6.0))


def test_a_quadrant_model_reports_1_plus_8_times_the_probability():
    model = small_model()
    model.set_labels(LabelScale(output_scale=PROBABILITY_SCALE))
    assert model.probability_scale
    z = torch.tensor([[0.0, 0.0], [math.log(3.0), -math.log(3.0)], [40.0, -40.0]])
    # sigmoid(ln 3) = 0.75 -> 7; sigmoid(-ln 3) = 0.25 -> 3; saturated logits stay on 1..9
    expected = torch.tensor([[5.0, 5.0], [7.0, 3.0], [9.0, 1.0]])
    torch.testing.assert_close(model.to_values(z), expected)
    torch.testing.assert_close(model.sign_logits(z), z)  # the heads are the logits
    x = torch.randn(2, *CNN_MEL.input_shape)
    values = predict(ValueOutput(model), x)
    torch.testing.assert_close(values, 1.0 + 8.0 * torch.sigmoid(predict(model, x)))


def test_a_deam_model_gives_sign_logits_of_its_values():
    model = small_model()  # mean (0.1, -0.2), std (0.3, 0.4) on -1..1
    assert not model.probability_scale and model.labels.output_scale == DEAM_SCALE
    z = torch.tensor([[0.0, 0.5], [-1.0, 2.0]])
    unit = z * torch.tensor([0.3, 0.4]) + torch.tensor([0.1, -0.2])
    torch.testing.assert_close(model.sign_logits(z), SIGN_SLOPE * unit)
    # the logit is positive exactly where the value is above the quadrant boundary 5
    assert ((model.sign_logits(z) > 0) == (model.to_values(z) > 5.0)).all()


def test_label_scales_round_trip_and_say_what_they_mean():
    for scale in (LABELS, LabelScale(output_scale=PROBABILITY_SCALE)):
        assert LabelScale.from_dict(scale.to_dict()) == scale
    assert LabelScale.from_dict({"mean": [0.1, 0.2], "std": [1, 2]}).output_scale == DEAM_SCALE
    assert "1 + 8 x P(positive" in LabelScale(output_scale=PROBABILITY_SCALE).meaning
    assert "DEAM" in LABELS.meaning
    with pytest.raises(ValueError, match="output scale 'percent' is not one of"):
        LabelScale(output_scale="percent")
    with pytest.raises(ValueError, match="not one of"):
        LabelScale.from_dict({"mean": [0, 0], "std": [1, 1], "output_scale": "logit"})


def test_a_probability_scale_checkpoint_loads_on_its_scale(tmp_path):
    model = small_model()
    model.set_labels(LabelScale(output_scale=PROBABILITY_SCALE))
    loaded = load_model(saved(model, tmp_path / "best.pt"))
    assert loaded.labels.output_scale == PROBABILITY_SCALE and loaded.probability_scale
    x = torch.randn(2, *CNN_MEL.input_shape)
    torch.testing.assert_close(
        loaded.to_values(predict(loaded, x)), model.to_values(predict(model, x))
    )


def test_a_cross_validation_folder_means_its_final_model(tmp_path):
    (tmp_path / "fold-01").mkdir()
    saved(small_model(), tmp_path / "fold-01" / "best.pt", epoch=2)
    (tmp_path / "final").mkdir()
    saved(small_model(), tmp_path / "final" / "last.pt", epoch=3)
    assert resolve_checkpoint(tmp_path) == tmp_path / "final" / "last.pt"
    saved(small_model(), tmp_path / "final" / "best.pt", epoch=3)
    assert resolve_checkpoint(tmp_path) == tmp_path / "final" / "best.pt"
    assert load_model(tmp_path).config == SMALL_CNN


def test_checkpoint_round_trip_through_a_run_folder(tmp_path):
    model = small_model()
    for parameter in model.parameters():  # weights no fresh model would have
        parameter.data.add_(0.01)
    saved(model, tmp_path / "last.pt", epoch=1)
    saved(model, tmp_path / "best.pt", epoch=7)
    assert resolve_checkpoint(tmp_path) == tmp_path / "best.pt"
    assert read_checkpoint(tmp_path / "best.pt")["epoch"] == 7
    loaded = load_model(tmp_path)
    assert not loaded.training
    assert loaded.config == model.config and loaded.labels == LABELS
    assert loaded.audio == CNN_MEL
    x = torch.randn(2, *CNN_MEL.input_shape)
    torch.testing.assert_close(predict(loaded, x), predict(model, x))
    torch.testing.assert_close(
        loaded.to_values(predict(loaded, x)), model.to_values(predict(model, x))
    )


def test_tiny_ast_checkpoint_round_trip(tmp_path):
    model = small_model(ModelConfig(backbone="ast", head_hidden=16, backbone_kwargs={"tiny": True}))
    loaded = load_model(saved(model, tmp_path / "ast.pt"))
    x = torch.randn(1, *audio_config_for("ast").input_shape)
    torch.testing.assert_close(predict(loaded, x), predict(model, x))


def test_load_model_refuses_other_audio_parameters(tmp_path):
    data = checkpoint_dict(small_model())
    data["audio"]["n_mels"] = 128
    data["audio"]["hop_length"] = 256
    atomic_save(data, tmp_path / "best.pt")
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "best.pt") in message
    assert "n_mels: 128 != 64" in message and "hop_length: 256 != 512" in message
    assert "retrain" in message


def test_load_model_refuses_weights_that_do_not_fit(tmp_path):
    data = checkpoint_dict(small_model())
    data["model"]["backbone_kwargs"] = {"channels": (8, 32)}  # architecture edited after training
    path = tmp_path / "best.pt"
    atomic_save(data, path)
    with pytest.raises(CheckpointError, match="weights do not fit cnn .*size mismatch"):
        load_model(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["audio"].update(pcen=True),
        lambda d: d["model"].update(backbone="resnet"),
        lambda d: d.pop("labels"),
    ],
)
def test_load_model_refuses_checkpoints_of_other_versions(tmp_path, edit):
    data = checkpoint_dict(small_model())
    edit(data)
    atomic_save(data, tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="another version of emotrack"):
        load_model(tmp_path)


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(tmp_path / "junk.pt")
    torch.save(small_model().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not an emotrack checkpoint"):
        load_model(tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="no best.pt or last.pt"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "absent.pt")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path):
    path = saved(small_model(), tmp_path / "best.pt", epoch=1)
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises
        atomic_save({"format": "x", "bad": lambda: None}, path)  # lambdas cannot be pickled
    assert read_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left
