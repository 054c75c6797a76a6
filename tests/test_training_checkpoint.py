"""Tests of checkpoint bundles, their atomic writes, and exact resume."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from _training_helpers import (
    Recorder,
    init_fixed,
    loader,
    make_net,
    params_of,
    structural_params,
    wine,
)

from gluon_safe._compat import gluon, mx
from gluon_safe.encoding import LabelEncoder
from gluon_safe.errors import CheckpointError
from gluon_safe.training import (
    Checkpoint,
    EarlyStopping,
    Resume,
    Trainer,
    fit,
    load_checkpoint,
)
from gluon_safe.training._bundle import LATEST, list_bundles, read_pointer, write_bundle
from gluon_safe.training._checkpoint import (
    bundles_to_delete,
    decode_state,
    encode_state,
    should_save,
)

CPU2 = [mx.cpu(0), mx.cpu(1)]


def run(net, directory=None, *, epochs, resume=None, ctx=CPU2, seed=5, callbacks=(),
        optimizer_params=None, trainer=None, dropout_data=None):
    features, labels = dropout_data or wine(60)
    extra = list(callbacks)
    if directory is not None:
        extra.append(Checkpoint(directory, keep_last=None))
    params = optimizer_params or {"learning_rate": 0.01}
    return fit(net, loader(features, labels, 16, shuffle=True),
               loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=epochs, ctx=ctx, seed=seed,
               callbacks=extra, resume_from=resume, verbose=False,
               optimizer_params=None if trainer is not None else params, trainer=trainer)


@pytest.mark.parametrize("ctx", [[mx.cpu(0)], CPU2], ids=["one_cpu", "two_cpus"])
def test_resume_equals_uninterrupted_run(tmp_path, ctx):
    uninterrupted = make_net(dropout=0.3)
    full_history = run(uninterrupted, epochs=4, ctx=ctx)

    first = make_net(dropout=0.3)
    run(first, tmp_path, epochs=2, ctx=ctx)
    resumed = make_net(dropout=0.3)
    history = run(resumed, tmp_path, epochs=4, ctx=ctx, resume=tmp_path)

    expected = params_of(uninterrupted)
    for name, value in params_of(resumed).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    assert history.epochs == [0, 1, 2, 3]
    assert history["loss"] == full_history["loss"]


def numbered_net(first, second):
    """Return the Wine MLP with explicit layer prefixes, as global counters would name them."""
    net = gluon.nn.HybridSequential(prefix=f"net{first}_")
    net.add(gluon.nn.Dense(8, in_units=13, activation="relu", prefix=f"dense{first}_"),
            gluon.nn.Dense(3, in_units=8, prefix=f"dense{second}_"))
    return net


def test_resume_survives_renumbered_parameters(tmp_path):
    # gluon.Trainer orders parameters by name: dense10 sorts before dense9, but not
    # dense12 before dense11, so positions in the optimizer state change between runs.
    uninterrupted = numbered_net(1, 2)
    run(uninterrupted, epochs=3)
    run(numbered_net(9, 10), tmp_path, epochs=2)
    resumed = numbered_net(11, 12)
    run(resumed, tmp_path, epochs=3, resume=tmp_path)
    expected = structural_params(uninterrupted)
    actual = structural_params(resumed)
    assert sorted(actual) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    for name, value in actual.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_resume_restores_early_stopping_state(tmp_path):
    stopper = EarlyStopping("loss", patience=3)
    run(make_net(), tmp_path, epochs=2, callbacks=[stopper])
    resumed_stopper = EarlyStopping("loss", patience=3)
    run(make_net(), tmp_path, epochs=3, callbacks=[resumed_stopper], resume=tmp_path)
    assert resumed_stopper.progress.best_epoch is not None
    assert resumed_stopper.progress.best_epoch >= stopper.progress.best_epoch


def test_resume_places_states_on_each_parameter_device(tmp_path):
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    run(net, tmp_path, epochs=1, ctx=[mx.cpu(0)], trainer=trainer)

    resumed = make_net()
    init_fixed(resumed, CPU2)
    trainer = Trainer(resumed.collect_params(), "adam", {"learning_rate": 0.01},
                      kvstore=None)
    run(resumed, tmp_path, epochs=1, ctx=CPU2, trainer=trainer, resume=tmp_path)
    for ctx, updater in zip(CPU2, trainer._updaters):
        contexts = {state.context for states in updater.states.values() for state in states}
        assert contexts == {ctx}
    counts = trainer._optimizer._all_index_update_counts
    assert counts[0] == counts[1]


def test_resume_with_changed_schedule_needs_choice(tmp_path):
    schedule = {"learning_rate": 0.1,
                "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=2, factor=0.5)}
    run(make_net(), tmp_path, epochs=1, optimizer_params=schedule)
    changed = {"learning_rate": 0.1,
               "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=2, factor=0.9)}
    with pytest.raises(ValueError, match="learning-rate schedule differs from the one saved in "
                                         f"{tmp_path}.*lr_schedule='saved'"):
        run(make_net(), tmp_path, epochs=2, optimizer_params=changed, resume=tmp_path)


@pytest.mark.parametrize(("choice", "factor"), [("saved", 0.5), ("current", 0.9)])
def test_resume_schedule_choice_applies_and_logs(tmp_path, caplog, choice, factor):
    schedule = {"learning_rate": 0.1,
                "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=2, factor=0.5)}
    run(make_net(), tmp_path, epochs=1, optimizer_params=schedule)
    changed = {"learning_rate": 0.1,
               "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=2, factor=0.9)}
    recorder = Recorder()
    with caplog.at_level(logging.INFO, logger="gluon_safe"):
        run(make_net(), tmp_path, epochs=1, optimizer_params=changed,
            resume=Resume(tmp_path, lr_schedule=choice), callbacks=[recorder])
    optimizer = recorder.states[0].trainer._optimizer
    assert optimizer.lr_scheduler.factor == factor
    updates = optimizer.num_update
    assert updates == 4  # 60 samples in batches of 16
    expected_lr = 0.1 * factor ** ((updates - 1) // 2)
    assert optimizer.learning_rate == pytest.approx(expected_lr)
    assert f"update count {updates}" in caplog.text
    assert "FactorScheduler" in caplog.text


def test_resume_rejects_unknown_schedule_choice():
    with pytest.raises(ValueError, match="lr_schedule='new' is not supported"):
        Resume("somewhere", lr_schedule="new")


def test_checkpoint_stores_label_encoder(tmp_path):
    encoder = LabelEncoder().fit([1, 2, 3])
    run(make_net(), tmp_path, epochs=1, callbacks=[Checkpoint(tmp_path / "enc",
                                                              label_encoder=encoder)])
    bundle = load_checkpoint(tmp_path / "enc")
    assert LabelEncoder.from_json(bundle.manifest["label_encoder"]["json"]) == encoder

    recorder = Recorder()
    run(make_net(), epochs=1, resume=tmp_path / "enc", callbacks=[recorder])
    assert recorder.states[0].label_encoder == encoder


def test_checkpoint_every_keep_last_and_best(tmp_path):
    features, labels = wine(24)
    data = loader(features, labels, 8)
    checkpoint = Checkpoint(tmp_path, every=2, keep_last=1, save_best="val_accuracy")
    fit(make_net(), data, loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=5, val_data=data,
        ctx=[mx.cpu(0)], callbacks=[checkpoint], verbose=False,
        optimizer_params={"learning_rate": 0.05})
    names = [name for _, name in list_bundles(str(tmp_path))]
    latest = read_pointer(str(tmp_path), LATEST)
    best = read_pointer(str(tmp_path), "best")
    assert latest == "epoch-0004"
    assert set(names) == {latest, best}
    assert load_checkpoint(tmp_path / best).epoch == checkpoint.best_epoch


def test_should_save_rule():
    saved = [epoch for epoch in range(10) if should_save(epoch, epochs=10, every=4,
                                                          is_best=epoch == 1)]
    assert saved == [1, 3, 7, 9]


def test_bundles_to_delete_keeps_protected_and_newest():
    bundles = [(0, "epoch-0000"), (1, "epoch-0001"), (2, "epoch-0002"), (3, "epoch-0003")]
    assert bundles_to_delete(bundles, keep_last=2, protected={"epoch-0000"}) == ["epoch-0001"]
    assert bundles_to_delete(bundles, keep_last=None, protected=set()) == []


def test_state_encoding_round_trip():
    arrays = {}
    state = {"best": float("inf"), "values": {"w": np.arange(3.0)}, "tags": ["a", 1, None]}
    encoded = encode_state(state, "callback0", arrays)
    json.dumps(encoded)
    decoded = decode_state(encoded, arrays)
    assert decoded["best"] == float("inf")
    np.testing.assert_array_equal(decoded["values"]["w"], np.arange(3.0))
    assert decoded["tags"] == ["a", 1, None]


def test_state_encoding_rejects_objects():
    with pytest.raises(TypeError, match="contains a value of type object at 'callback0/x'"):
        encode_state({"x": object()}, "callback0", {})


def test_write_interrupted_keeps_latest(tmp_path):
    first = write_bundle(tmp_path, 0, save_params=lambda path: open(path, "wb").close(),
                         trainer_states=b"x", manifest={"epoch": 0}, arrays={})

    def crash(path):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_bundle(tmp_path, 1, save_params=crash, trainer_states=b"x",
                     manifest={"epoch": 1}, arrays={})
    assert read_pointer(str(tmp_path), LATEST) == first
    assert sorted(os.listdir(tmp_path)) == [first, LATEST]
    assert load_checkpoint(tmp_path).epoch == 0


def test_write_same_epoch_twice_gets_new_name(tmp_path):
    names = [write_bundle(tmp_path, 3, save_params=lambda path: open(path, "wb").close(),
                          trainer_states=b"", manifest={"epoch": 3}, arrays={})
             for _ in range(2)]
    assert names == ["epoch-0003", "epoch-0003-1"]


@pytest.fixture
def saved(tmp_path):
    run(make_net(), tmp_path, epochs=1)
    return tmp_path, os.path.join(tmp_path, read_pointer(str(tmp_path), LATEST))


@pytest.mark.parametrize("name", ["model.params", "trainer.states", "arrays.npz"])
def test_truncated_file_raises_naming_it(saved, name):
    directory, bundle = saved
    path = os.path.join(bundle, name)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError, match=f"checkpoint file {path} is truncated"):
        run(make_net(), epochs=2, resume=directory)


def test_truncated_manifest_raises_naming_it(saved):
    directory, bundle = saved
    path = os.path.join(bundle, "checkpoint.json")
    with open(path, "r+b") as handle:
        handle.truncate(40)
    with pytest.raises(CheckpointError, match=f"checkpoint file {path} is truncated or is not "
                                              "JSON"):
        load_checkpoint(directory)


def test_missing_file_raises_naming_it(saved):
    directory, bundle = saved
    path = os.path.join(bundle, "trainer.states")
    os.remove(path)
    with pytest.raises(CheckpointError, match=f"checkpoint file {path} is missing"):
        load_checkpoint(directory)


def test_foreign_manifest_raises(tmp_path):
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps({"format": "keras", "epoch": 3}))
    with pytest.raises(CheckpointError, match=f"checkpoint file {path} was not written by "
                                              "gluon_safe"):
        load_checkpoint(tmp_path)


def test_foreign_directory_raises(tmp_path):
    (tmp_path / "weights.params").write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"{tmp_path} is not a gluon_safe checkpoint"):
        load_checkpoint(tmp_path)


def test_missing_directory_raises(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist or is not a directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_newer_format_version_raises(saved):
    directory, bundle = saved
    path = os.path.join(bundle, "checkpoint.json")
    with open(path) as handle:
        manifest = json.load(handle)
    manifest["version"] = 99
    with open(path, "w") as handle:
        json.dump(manifest, handle)
    with pytest.raises(CheckpointError, match="has format version 99"):
        load_checkpoint(directory)


def test_checkpoint_of_other_network_raises(saved):
    directory, _ = saved
    other = gluon.nn.HybridSequential()
    other.add(gluon.nn.Dense(5, in_units=13), gluon.nn.Dense(3, in_units=5))
    features, labels = wine(12)
    with pytest.raises(CheckpointError, match=r"model\.params does not fit this network"):
        fit(other, loader(features, labels, 6), loss=gluon.loss.SoftmaxCrossEntropyLoss(),
            epochs=2, ctx=CPU2, resume_from=directory, verbose=False)


@pytest.mark.parametrize(("option", "value"), [("keep_last", 0), ("every", 0), ("every", 1.5)])
def test_checkpoint_rejects_bad_options(tmp_path, option, value):
    with pytest.raises(ValueError, match=f"{option}={value!r} is not a positive int"):
        Checkpoint(tmp_path, **{option: value})
