"""Training loop, per-batch CyclicLR, evaluation, run folders, checkpoints and exact resume."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.checkpoint import load_checkpoint
from course_lib.configs import config_from_dict, get_config, with_epochs
from course_lib.history import prepare_run_dir, read_csv
from course_lib.metrics import topk_accuracy
from course_lib.models import create_model, set_trainable
from course_lib.stages import make_optimizer, make_scheduler, train_stages
from course_lib.train import evaluate, fit, loss_for, train_one_epoch

NUM_CLASSES = 3


pytestmark = pytest.mark.usefixtures("one_thread")


def make_dataset(n: int, *, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % NUM_CLASSES
    images = 0.5 * torch.randn(n, 3, 16, 16, generator=generator)  # (N, 3, 16, 16)
    images[:, 0] += 2 * labels.view(-1, 1, 1).float()  # the class shows in the red channel
    return TensorDataset(images, labels)


def make_loaders() -> dict[str, DataLoader]:
    shuffle = torch.Generator().manual_seed(0)
    return {
        "train": DataLoader(
            make_dataset(44, seed=0), batch_size=8, shuffle=True, generator=shuffle
        ),
        "val": DataLoader(make_dataset(20, seed=1), batch_size=8),
    }


CONFIG = config_from_dict(
    {
        "name": "tiny",
        "task": "transfer",
        "model": "vgg_mini_transfer",
        "model_kwargs": {"widths": [4, 8], "batch_norm": True, "hidden": 16, "dropout": 0.2},
        "topk": [1, 2],
        "stages": [
            {
                "name": "head",
                "epochs": 2,
                "trainable": ["classifier"],
                "scheduler": "cyclic",
                "base_lr": 1e-3,
                "max_lr": 1e-2,
                "step_size_up": 4,
            },
            {
                "name": "all",
                "epochs": 2,
                "scheduler": "cyclic",
                "base_lr": 1e-4,
                "max_lr": 1e-3,
                "step_size_up": 3,
            },
        ],
    }
)


def make_model(config=CONFIG, num_classes: int = NUM_CLASSES) -> nn.Module:
    torch.manual_seed(0)
    return create_model(config.model, num_classes=num_classes, **config.model_kwargs)


def triangular2(step: int, base: float, peak: float, up: int) -> float:
    """Closed form of CyclicLR(mode="triangular2") after ``step`` scheduler steps."""
    cycle = math.floor(1 + step / (2 * up))
    x = abs(step / up - 2 * cycle + 1)
    return base + (peak - base) * max(0.0, 1 - x) / 2 ** (cycle - 1)


def test_loss_matches_the_output_kind():
    vgg, convnext = make_model(), create_model("convnext_mini_age", num_classes=3)
    assert isinstance(loss_for(vgg), nn.NLLLoss)
    assert isinstance(loss_for(convnext), nn.CrossEntropyLoss)
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    # NLL of log-softmax output is the cross-entropy of the logits: softmax applied once.
    torch.testing.assert_close(
        loss_for(vgg)(torch.log_softmax(logits, 1), labels), nn.CrossEntropyLoss()(logits, labels)
    )


def test_learning_rate_follows_triangular2_every_batch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=1e-4, max_lr=6e-4, step_size_up=3, mode="triangular2"
    )
    seen = []

    def batches():
        for _ in range(20):
            seen.append(optimizer.param_groups[0]["lr"])  # the rate this batch trains with
            yield torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4,))

    loss_fn = nn.CrossEntropyLoss()
    result = train_one_epoch(model, batches(), optimizer, loss_fn=loss_fn, scheduler=scheduler)
    expected = [triangular2(step, 1e-4, 6e-4, 3) for step in range(20)]
    assert seen == pytest.approx(expected, rel=1e-9)
    assert max(seen[6:12]) == pytest.approx(3.5e-4)  # the second cycle peaks at half height
    assert set(result) == {"loss", "top1"} and 0 <= result["top1"] <= 1


def test_article_stage_schedules_reach_their_peaks_in_batches():
    head, finetune = get_config("transfer_vgg16").stages
    model = nn.Linear(2, 2)
    for stage in (head, finetune):
        optimizer = make_optimizer(model, stage)
        scheduler = make_scheduler(optimizer, stage)
        rates = [optimizer.param_groups[0]["lr"]]
        for _ in range(4 * stage.step_size_up):
            optimizer.step()
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
        for step in (0, 700, stage.step_size_up, 2 * stage.step_size_up, 3 * stage.step_size_up):
            assert rates[step] == pytest.approx(
                triangular2(step, stage.base_lr, stage.max_lr, stage.step_size_up), rel=1e-6
            )
        assert max(rates) == pytest.approx(stage.max_lr)
    # Stepped once per epoch as in article 001, ten epochs barely move the rate:
    assert triangular2(10, 1e-4, 6e-4, 1404) == pytest.approx(1.0356e-4, rel=1e-4)


def test_stage_adam_is_fused_and_makes_the_updates_of_plain_adam():
    stage = get_config("transfer_vgg16").stages[0]
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    start = models[0][0].weight.detach().clone()
    fused = make_optimizer(models[0], stage)
    plain = torch.optim.Adam(models[1].parameters(), lr=stage.lr, foreach=False)
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    batches = [(torch.randn(8, 16), torch.randint(0, 4, (8,))) for _ in range(5)]
    for model, optimizer in zip(models, (fused, plain), strict=True):
        for x, y in batches:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert (models[0][0].weight - start).abs().max() > 1e-4  # the steps did move the weights


def test_evaluate_reports_sample_mean_loss_and_capped_topk():
    model = make_model()
    loader = make_loaders()["val"]  # 20 samples in batches of 8: the last one has 4
    result = evaluate(model, loader, topk=(1, 5))
    assert set(result) == {"loss", "top1", "top3", "preds", "targets"}
    model.eval()
    with torch.no_grad():
        images, labels = loader.dataset.tensors
        output = model(images)
    torch.testing.assert_close(result["loss"], nn.NLLLoss()(output, labels).item())
    assert [result["top1"], result["top3"]] == topk_accuracy(output, labels, (1, 3))
    assert result["top3"] == 1.0
    assert torch.equal(result["preds"], output.argmax(1)) and torch.equal(result["targets"], labels)


def test_fit_writes_history_predictions_and_checkpoints(tmp_path):
    model = make_model()
    set_trainable(model, "features", True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, make_loaders(), epochs=6, optimizer=optimizer, run_dir=tmp_path)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    columns = {"epoch", "stage", "lr", "train_loss", "train_top1", "val_loss", "val_top1"}
    assert columns | {"val_top3", "seconds"} == set(history[0])
    assert read_csv(tmp_path / "history.csv") == history
    predictions = read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == 6 * 20 and set(predictions[0]) == {"epoch", "pred", "actual"}
    assert max(row["val_top1"] for row in history) >= 0.9  # the classes are easy to tell apart
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 6 and checkpoint["metrics"] == history[-1]
    assert {"model", "optimizer", "scheduler", "config", "rng", "history"} <= set(checkpoint)
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


def train_a_few_steps(stage: str, *, channels_last: bool | None) -> nn.Module:
    """Three batches of stage ``"head"`` (frozen features, the recipe's Adam + CyclicLR) or
    ``"all"`` (every layer trainable, SGD), through ``fit`` on the CPU."""
    model = make_model()
    set_trainable(model, "features", stage == "all")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if stage == "head":
        optimizer = make_optimizer(model, CONFIG.stages[0])
        scheduler = make_scheduler(optimizer, CONFIG.stages[0])
    else:
        optimizer, scheduler = torch.optim.SGD(trainable, lr=1e-2, momentum=0.9), None
    batches = list(make_loaders()["train"])[:3]
    torch.manual_seed(1)  # the same dropout masks both ways
    kwargs = dict(epochs=1, optimizer=optimizer, scheduler=scheduler, device="cpu")
    fit(model, {"train": batches}, channels_last=channels_last, **kwargs)
    return model


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="CPU without oneDNN")
@pytest.mark.parametrize("stage", ["head", "all"])
def test_channels_last_cpu_default_makes_the_same_updates_as_nchw(stage):
    nchw = train_a_few_steps(stage, channels_last=False)
    default = train_a_few_steps(stage, channels_last=None)
    assert not nchw.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert default.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    # NHWC changes the order of float32 sums, nothing else. Stage "all" uses SGD: Adam's first
    # steps are +-lr whatever a gradient's size, so a bias that BatchNorm cancels (gradient 0
    # up to rounding) moves by +-lr either way; two NCHW runs on 1 and 2 threads differ as much.
    tolerance = dict(rtol=1e-5, atol=1e-6) if stage == "head" else dict(rtol=1e-3, atol=1e-4)
    state, initial = default.state_dict(), make_model().state_dict()
    for name, value in nchw.state_dict().items():
        torch.testing.assert_close(state[name], value, msg=name, **tolerance)
    moved = [name for name, value in state.items() if not torch.equal(value, initial[name])]
    assert "classifier.0.weight" in moved  # the steps trained: updates compared, not copies
    assert ("features.0.weight" in moved) == (stage == "all")


def test_early_stopping_ends_the_stage(tmp_path):
    model = make_model()
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.0)

    def idle_step(model, loader, optimizer, *, loss_fn, scheduler=None, device=None):
        return {"loss": 0.0, "top1": 0.0}  # nothing learns: the val loss never improves

    kwargs = dict(epochs=10, optimizer=optimizer, train_step=idle_step, early_stopping=2)
    history = fit(model, make_loaders(), run_dir=tmp_path, **kwargs)
    assert len(history) == 3  # the best epoch, then two without improvement
    resumed = fit(
        make_model(), make_loaders(), resume=tmp_path / "checkpoints" / "last.pt", **kwargs
    )
    assert resumed == history  # a stopped stage stays stopped


def run_recipe(run_dir, *, config=CONFIG, resume=None, interrupt_at=None):
    calls = []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return train_one_epoch(*args, **kwargs)

    return train_stages(
        make_model(config), make_loaders(), config, run_dir=run_dir, resume=resume, train_step=step
    )


def without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("interrupt_at", [2, 3])  # in the middle of stage 1, at stage 2's start
def test_resumed_run_equals_uninterrupted_run(tmp_path, interrupt_at):
    full = run_recipe(tmp_path / "full")
    assert [row["stage"] for row in full] == ["head", "head", "all", "all"]
    with pytest.raises(KeyboardInterrupt):
        run_recipe(tmp_path / "cut", interrupt_at=interrupt_at)
    last = tmp_path / "cut" / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["epoch"] == interrupt_at - 1
    resumed = run_recipe(tmp_path / "cut", resume=last)
    assert without_time(resumed) == without_time(full)
    final = [load_checkpoint(tmp_path / run / "checkpoints" / "all.pt") for run in ("full", "cut")]
    for name, value in final[0]["model"].items():
        assert torch.equal(value, final[1]["model"][name]), name
    for name in ("history.csv", "predictions.csv"):
        rows = [read_csv(tmp_path / run / name) for run in ("full", "cut")]
        assert without_time(rows[0]) == without_time(rows[1])


def test_resume_may_train_longer_but_not_with_another_model_or_config(tmp_path):
    run_recipe(tmp_path / "run", config=with_epochs(CONFIG, 1))
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    longer = run_recipe(tmp_path / "run", resume=last, config=with_epochs(CONFIG, 2))
    assert [row["stage"] for row in longer] == ["head", "all", "all"]  # "head" had finished
    other_model = replace(CONFIG, model_kwargs={**CONFIG.model_kwargs, "widths": [4, 4]})
    with pytest.raises(ValueError, match="saved from another model"):
        run_recipe(tmp_path / "run", resume=last, config=other_model)
    faster = replace(CONFIG, stages=(replace(CONFIG.stages[0], lr=1.0), CONFIG.stages[1]))
    with pytest.raises(
        ValueError, match=r"another config \(stages\[0\]\.lr: saved 0.0001, now 1.0"
    ):
        run_recipe(tmp_path / "run", resume=last, config=faster)


def test_run_folder_is_not_overwritten_unless_asked(tmp_path):
    (tmp_path / "history.csv").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        prepare_run_dir(tmp_path)
    prepare_run_dir(tmp_path, resume=True)
    assert (tmp_path / "history.csv").exists()
    prepare_run_dir(tmp_path, overwrite=True)
    assert not (tmp_path / "history.csv").exists() and (tmp_path / "notes.txt").exists()


# ---------------------------------------------------------------- pipelines (synthetic data)


@pytest.mark.slow
def test_transfer_pipeline_writes_a_complete_resumable_run(tiny_imagenet, tmp_path):
    from course_lib.configs import load_config
    from course_lib.pipelines.transfer import run_transfer

    run = tmp_path / "run"
    summary = run_transfer("transfer_demo", data_root=tiny_imagenet, out_dir=run, epochs=1)
    assert summary["classes"] == 4 and summary["test_images"] == 16
    assert [row["stage"] for row in read_csv(run / "history.csv")] == ["head", "finetune"]
    for name in ("curves.png", "confusion.png", "confusion.csv", "predictions.csv"):
        assert (run / name).is_file(), name
    assert load_config(run / "config.yaml") == with_epochs(get_config("transfer_demo"), 1)
    assert {"top1", "top4"} <= set(summary["test"])  # top-5 capped at the 4 classes
    with pytest.raises(FileExistsError, match="not empty"):
        run_transfer("transfer_demo", data_root=tiny_imagenet, out_dir=run, epochs=1)
    again = run_transfer(
        "transfer_demo", data_root=tiny_imagenet, out_dir=run, epochs=1, resume=True
    )
    assert again["test"] == summary["test"]  # finished: resuming trains nothing more
    checkpoint = load_checkpoint(run / "checkpoints" / "finetune.pt")
    assert checkpoint["num_classes"] == 4 and len(checkpoint["class_names"]) == 4


def test_fast_and_per_sample_paths_hold_out_the_same_images(tiny_imagenet, tmp_path):
    from course_lib.pipelines.transfer import tiny_imagenet_cached, tiny_imagenet_per_sample

    config = get_config("transfer_demo")
    fast = tiny_imagenet_cached(config, tiny_imagenet, tmp_path, device=torch.device("cpu"))
    plain = tiny_imagenet_per_sample(config, tiny_imagenet)
    assert fast.class_names == plain.class_names
    assert len(fast.loaders["train"]) == len(plain.loaders["train"])
    for name, fast_loader, plain_loader in (
        ("val", fast.loaders["val"], plain.loaders["val"]),
        ("test", fast.test_loader, plain.test_loader),
    ):
        (fast_images, fast_labels), (images, labels) = (
            next(iter(fast_loader)),
            next(iter(plain_loader)),
        )
        assert torch.equal(fast_labels, labels), name
        torch.testing.assert_close(fast_images, images, msg=name)


def test_pipelines_reject_the_wrong_task_and_data(tiny_imagenet, tmp_path):
    from course_lib.pipelines.age import run_age
    from course_lib.pipelines.transfer import run_transfer

    with pytest.raises(ValueError, match="is for the 'age' pipeline, not 'transfer'"):
        run_transfer("age_demo", data_root=tiny_imagenet, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="not the same group folders"):
        run_age("age_demo", data_root=tiny_imagenet, out_dir=tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="neither an ImageFolder split"):
        run_age("age_demo", data_root=tiny_imagenet / "train", out_dir=tmp_path / "e")
    with pytest.raises(FileNotFoundError, match="wnids.txt"):
        run_transfer("transfer_demo", data_root=tmp_path / "b", out_dir=tmp_path / "c")
    mismatch = replace(get_config("transfer_demo"), num_classes=200)
    with pytest.raises(ValueError, match="asks for 200 classes but the data has 4"):
        run_transfer(mismatch, data_root=tiny_imagenet, out_dir=tmp_path / "d")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """A synthetic CACD with enough people for at least two images in every age group."""
    from course_lib.data.synthetic import make_cacd

    return make_cacd(tmp_path_factory.mktemp("cacd") / "cacd", people=12, images_per_person=5)


@pytest.mark.slow
def test_age_pipeline_from_raw_cacd(faces, tmp_path):
    from course_lib.pipelines.age import run_age

    summary = run_age("age_demo", data_root=faces, out_dir=tmp_path / "run", epochs=1)
    groups = sorted((tmp_path / "run" / "data" / "split" / "train").iterdir())
    assert summary["classes"] == len(groups) >= 2
    for name in ("curves.png", "confusion.png", "pca.png", "tsne.png", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    rows = read_csv(tmp_path / "run" / "confusion.csv")
    ages = [int(row["actual"][:-1]) for row in rows]
    assert ages == sorted(ages)  # age groups in age order
