"""Backbones: registry, shapes, weights files, published-weights failures offline, ONNX."""

import io
import re
import shutil
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from emotrack.models.audio import AST_MEL, CNN_MEL, MEL_IMAGE, WAVEFORM
from emotrack.models.backbones import BACKBONE_NAMES, audio_config_for, build_backbone
from emotrack.models.errors import UserError

TINY = {"tiny": True}


def batch_for(name: str, size: int = 2) -> torch.Tensor:
    return torch.randn(size, *audio_config_for(name).input_shape)


def outputs(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module.eval()(x)


@pytest.fixture(scope="module")
def mamba_t() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone("mamba_vision_T").eval()


@pytest.fixture(scope="module")
def mamba_t_file(mamba_t, tmp_path_factory):
    """mamba_t's weights saved the way NVIDIA publishes them: ImageNet head included."""
    state = dict(mamba_t.model.state_dict())
    state["head.weight"], state["head.bias"] = torch.randn(1000, 640), torch.zeros(1000)
    path = tmp_path_factory.mktemp("weights") / "mambavision_tiny_1k.pth.tar"
    torch.save({"state_dict": state, "epoch": 300}, path)
    return path


def test_each_backbone_reads_its_front_end():
    expected = {
        "mamba_vision_T": MEL_IMAGE,
        "mamba_vision_S": MEL_IMAGE,
        "mamba_vision_B": MEL_IMAGE,
        "cnn": CNN_MEL,
        "cnn_fusion": CNN_MEL,
        "ast": AST_MEL,
        "wav2vec2": WAVEFORM,
    }
    assert {name: audio_config_for(name) for name in BACKBONE_NAMES} == expected
    assert MEL_IMAGE.input_shape == (3, 224, 224)
    assert CNN_MEL.input_shape == (1, 64, 157)
    assert AST_MEL.input_shape == (1, 128, 501)
    assert WAVEFORM.input_shape == (80_000,)


@pytest.mark.parametrize("call", [audio_config_for, build_backbone])
def test_unknown_backbone_lists_the_valid_names(call):
    with pytest.raises(UserError, match="unknown backbone 'resnet50'") as info:
        call("resnet50")
    for name in BACKBONE_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "name, kwargs, dim",
    [
        ("cnn", {}, 128),
        ("cnn", {"channels": (8, 16)}, 16),
        ("cnn_fusion", {"channels": (8, 16), "descriptor_dim": 12}, 16 + 12),
        ("ast", TINY, 32),
        ("wav2vec2", TINY, 32),
    ],
)
def test_small_backbones_map_a_batch_to_feature_dim(name, kwargs, dim):
    module = build_backbone(name, **kwargs)
    assert module.feature_dim == dim
    features = outputs(module, batch_for(name, 3))
    assert features.shape == (3, dim)
    assert torch.isfinite(features).all()


def test_mamba_vision_t_maps_a_mel_image_to_pooled_features(mamba_t):
    assert mamba_t.feature_dim == 640
    features = outputs(mamba_t, batch_for("mamba_vision_T", 2))
    assert features.shape == (2, 640)
    assert torch.isfinite(features).all()
    # the ImageNet classifier is gone: nothing maps to 1000 classes
    assert all(1000 not in p.shape for p in mamba_t.parameters())


def test_mamba_vision_s_the_default_backbone():
    module = build_backbone("mamba_vision_S")
    assert module.feature_dim == 768
    assert outputs(module, batch_for("mamba_vision_S", 1)).shape == (1, 768)


def test_mamba_vision_b_feature_dim():
    assert build_backbone("mamba_vision_B").feature_dim == 1024


def test_ast_crops_frames_beyond_max_length():
    from transformers import ASTConfig, ASTModel

    from emotrack.models.hf import SPECS, ASTBackbone

    config = ASTConfig(**{**SPECS["ast"].tiny, "max_length": 256})
    module = ASTBackbone(ASTModel(config))
    assert outputs(module, batch_for("ast", 2)).shape == (2, 32)


def test_cnn_learns_a_spectral_cue_on_cpu():
    torch.manual_seed(0)
    module = build_backbone("cnn", channels=(8, 16)).train()
    head = torch.nn.Linear(module.feature_dim, 1)
    optimiser = torch.optim.Adam([*module.parameters(), *head.parameters()], lr=1e-2)
    y = torch.linspace(-1, 1, 8)[:, None]
    x = batch_for("cnn", 8)
    x[:, :, 32:] += y[:, :, None, None]  # brighter upper bands -> higher target
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.mse_loss(head(module(x)), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


# ---------------------------------------------------------------------------- weights files


def test_cnn_weights_file_round_trip(tmp_path):
    source = build_backbone("cnn")
    path = tmp_path / "cnn.pt"
    torch.save(source.state_dict(), path)
    loaded = build_backbone("cnn", weights=path)
    x = batch_for("cnn")
    torch.testing.assert_close(outputs(loaded, x), outputs(source, x))


def test_mamba_weights_file_with_imagenet_head_loads(mamba_t, mamba_t_file):
    torch.manual_seed(1)
    loaded = build_backbone("mamba_vision_T", weights=mamba_t_file)
    for key, value in mamba_t.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def test_weights_that_do_not_fit_name_the_file_and_the_mismatch(tmp_path):
    state = build_backbone("cnn").state_dict()
    state["features.0.weight"] = torch.zeros(16, 1, 3, 3)  # trained with another width
    path = tmp_path / "other.pt"
    torch.save(state, path)
    with pytest.raises(UserError) as info:
        build_backbone("cnn", weights=path)
    message = str(info.value)
    assert str(path) in message
    assert "features.0.weight: file (16, 1, 3, 3) vs model (32, 1, 3, 3)" in message


def test_weights_of_another_model_are_refused(mamba_t_file):
    with pytest.raises(UserError, match="do not fit backbone 'cnn'.*missing keys.*unexpected keys"):
        build_backbone("cnn", weights=mamba_t_file)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weights": "missing.pt"}, "missing.pt: no such weights file"),
        ({"pretrained": True}, "no published weights; omit --pretrained"),
        ({"pretrained": True, "weights": "x.pt"}, "not both"),
    ],
)
def test_bad_weight_options_are_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        build_backbone("cnn", **kwargs)


def test_unreadable_weights_file_is_a_user_error(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable weights file"):
        build_backbone("cnn", weights=path)


# ---------------------------------------------------------------------------- published weights


def test_mamba_pretrained_download_failure_says_what_to_do(tmp_path, monkeypatch):
    from mambavision.models import mamba_vision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache
    url = "http://127.0.0.1:9/mambavision_tiny_1k.pth.tar"  # nothing listens on port 9
    monkeypatch.setitem(mamba_vision.default_cfgs["mamba_vision_T"], "url", url)
    with pytest.raises(UserError) as info:
        build_backbone("mamba_vision_T", pretrained=True)
    message = str(info.value)
    assert f"downloading ImageNet weights from {url} failed" in message
    assert "omit --pretrained" in message and "--weights PATH" in message
    assert not list(tmp_path.rglob("*.pth.tar"))  # no half-downloaded file left behind


def test_mamba_pretrained_uses_the_torch_hub_cache(mamba_t_file, tmp_path, monkeypatch):
    from mambavision.models import mamba_vision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = f"http://127.0.0.1:9/{mamba_t_file.name}"  # never fetched: the file is cached
    monkeypatch.setitem(mamba_vision.default_cfgs["mamba_vision_T"], "url", url)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(mamba_t_file, tmp_path / "hub" / "checkpoints")
    loaded = build_backbone("mamba_vision_T", pretrained=True)
    source = torch.load(mamba_t_file)["state_dict"]
    key = "patch_embed.conv_down.0.weight"
    assert torch.equal(loaded.model.state_dict()[key], source[key])


@pytest.mark.parametrize("name", ["ast", "wav2vec2"])
def test_hf_pretrained_offline_says_what_to_do(name, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # empty cache
    with pytest.raises(UserError) as info:
        build_backbone(name, pretrained=True)
    message = str(info.value)
    assert "could not load pretrained weights" in message and "HF_HUB_OFFLINE is set" in message
    assert "--weights DIR" in message and "omit --pretrained" in message


def test_hf_local_folder_architecture_and_weights(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from emotrack.models.hf import SPECS

    narrow, wide = tmp_path / "narrow", tmp_path / "wide"
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(**SPECS["wav2vec2"].tiny)).save_pretrained(narrow)
    Wav2Vec2Model(Wav2Vec2Config(**{**SPECS["wav2vec2"].tiny, "hidden_size": 48})).save_pretrained(
        wide
    )
    from_folder = build_backbone("wav2vec2", source=str(narrow), pretrained=True)
    again = build_backbone("wav2vec2", source=str(narrow), weights=narrow)
    x = batch_for("wav2vec2")
    torch.testing.assert_close(outputs(from_folder, x), outputs(again, x))
    with pytest.raises(
        UserError, match=re.escape(f"{wide}: weights do not fit backbone 'wav2vec2'")
    ):
        build_backbone("wav2vec2", source=str(narrow), weights=wide)


def test_tiny_hf_models_refuse_weights(tmp_path):
    with pytest.raises(UserError, match="tiny model is random"):
        build_backbone("ast", tiny=True, weights=tmp_path)


# ---------------------------------------------------------------------------- ONNX


def onnx_session(module: torch.nn.Module, example: torch.Tensor) -> ort.InferenceSession:
    """Export the way `emotrack export` does (TorchScript exporter, dynamic batch)."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=["features"],
            dynamic_axes={"x": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
        )
    return ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("cnn", {}),
        # MambaVision-T's layout with fewer blocks: convolutions, scan and attention, both
        # window sizes (14 and 7), in a few seconds
        ("mamba_vision_T", {"depths": [1, 1, 2, 1]}),
    ],
)
def test_exports_to_onnx_with_a_dynamic_batch(name, kwargs):
    module = build_backbone(name, **kwargs).eval()
    session = onnx_session(module, batch_for(name, 2))
    for size in (1, 3):
        x = batch_for(name, size)
        (got,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, outputs(module, x).numpy(), atol=1e-4, rtol=1e-4)


def test_window_reverse_undoes_mambavision_window_partition():
    from mambavision.models import mamba_vision

    from emotrack.models.mamba import window_reverse

    build_backbone("mamba_vision_T", depths=[1, 1, 1, 1])  # imports and patches mambavision
    assert mamba_vision.window_reverse is window_reverse
    x = torch.randn(3, 5, 28, 14)
    windows = mamba_vision.window_partition(x, 7)
    assert windows.shape == (3 * 4 * 2, 49, 5)
    assert torch.equal(window_reverse(windows, 7, 28, 14), x)
