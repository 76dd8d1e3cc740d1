"""benchmarks/probe_rmonet_vae.py: the component VAE alone on ground-truth masks, at a tiny size."""

import runpy
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
probe = runpy.run_path(str(REPO / "benchmarks" / "probe_rmonet_vae.py"))


def test_scenes_give_one_mask_per_sprite_and_the_background_last():
    from datasets.multi_dsprites import render_multi_dsprites

    images, masks = probe["scenes"](np.random.default_rng(3), 2, 32, 2)
    assert images.shape == (2, 3, 32, 32) and masks.shape == (2, 3, 32, 32)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 32, 32))
    image, labels, _ = render_multi_dsprites(np.random.default_rng(3), 32, 2, 2)
    assert torch.equal(masks[0, 2].bool(), torch.from_numpy(labels == 0))
    torch.testing.assert_close(images[0], torch.from_numpy(image).permute(2, 0, 1).float() / 255)


def test_probe_runs_and_reports_errors_in_range(one_thread):
    for extra in ([], ["--components", "sprite", "--deterministic", "--beta", "0", "--gamma", "0"],
                  ["--encoder_input", "masked_image"], ["--encoder_input", "oracle_colour"]):
        rows = probe["main"](["--iters", "2", "--eval_every", "1", "--image_size", "16", "--batch_size", "2",
                              *extra])
        assert [r["iter"] for r in rows] == [1, 2]
        for r in rows:
            assert 0.0 <= r["sprite_error"] <= 3 ** 0.5 and 0.0 <= r["background_error"] <= 3 ** 0.5
            assert 0.0 <= r["sprite_mbar"] <= 1.0 and r["kl"] >= 0.0


def test_oracle_colour_puts_each_component_mean_colour_in_z():
    from models.rmonet.vae import ComponentVAE

    images, masks = probe["scenes"](np.random.default_rng(5), 2, 16, 1)
    vae = ComponentVAE(16, 8, 4, 4, 8)
    out = probe["forward"](vae, images, masks, False, True)
    expected = (images[:, None] * masks[:, :, None]).sum((3, 4)) / masks.sum((2, 3))[..., None]
    torch.testing.assert_close(out["mu"][..., :3], expected)
    assert out["xbar"].shape == (2, 2, 3, 16, 16) and not out["mu"][..., 3:].any()


def test_masked_image_encoder_sees_the_image_only_where_the_mask_is():
    from models.rmonet.vae import ComponentVAE

    torch.manual_seed(0)
    vae = ComponentVAE(16, 8, 4, 4, 8, encoder_input="masked_image")
    x, log_m = torch.rand(1, 3, 16, 16), torch.full((1, 1, 16, 16), -30.0)
    log_m[..., 4:8, 4:8] = 0.0
    changed = x.clone()
    changed[..., 10:, 10:] = 1 - changed[..., 10:, 10:]  # outside the mask: invisible to the encoder
    torch.testing.assert_close(vae.encode(x, log_m)[0], vae.encode(changed, log_m)[0])
    changed[..., 5, 5] = 1 - changed[..., 5, 5]
    assert not torch.allclose(vae.encode(x, log_m)[0], vae.encode(changed, log_m)[0])
