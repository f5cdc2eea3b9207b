"""CACD: both .mat versions, bad files, age groups, decade folders and the stratified split."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
from torchvision.datasets import ImageFolder

from course_lib.data.cacd import (
    META_COLUMNS,
    age_group,
    load_cacd_meta,
    mat_version,
    organize_by_decade,
    select_per_group,
    split_train_val,
)
from course_lib.data.splits import stratified_split_indices
from course_lib.data.synthetic import make_cacd
from data_tools.__main__ import main as data_tools_main


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- the two metadata files ------------------------------------------------------------------


def test_both_versions_give_the_same_table(cacd):
    v5 = load_cacd_meta(cacd / "celebrity2000_meta.mat")
    v73 = load_cacd_meta(cacd / "celebrity2000.mat")
    assert list(v5.columns) == list(META_COLUMNS) and len(v5) == 30
    pd.testing.assert_frame_equal(v5, v73)
    assert (v5[list(META_COLUMNS[:-1])].dtypes == "int64").all()
    assert v5["identity"].is_monotonic_increasing  # file order: person by person


def test_v5_file_reads_as_in_the_article(cacd):
    """The article's scipy recipe: positional fields, names from a cell array."""
    mat = scipy.io.loadmat(cacd / "celebrity2000_meta.mat")
    assert {"celebrityImageData", "celebrityData"} <= mat.keys()
    image_data = mat["celebrityImageData"]
    ages = image_data[0][0][0].flatten()
    names = [str(name[0][0]) for name in image_data[0][0][7]]
    meta = load_cacd_meta(cacd / "celebrity2000_meta.mat")
    assert ages.dtype == np.uint8 and ages.tolist() == meta["age"].tolist()
    assert names == meta["name"].tolist()
    assert image_data.dtype.names == (
        "age",
        "identity",
        "year",
        "feature",
        "rank",
        "lfw",
        "birth",
        "name",
    )
    assert mat_version(cacd / "celebrity2000_meta.mat") == "5"


def test_v73_file_is_hdf5_that_scipy_refuses(cacd):
    path = cacd / "celebrity2000.mat"
    with pytest.raises(NotImplementedError, match="Please use HDF reader"):
        scipy.io.loadmat(path)
    assert mat_version(path) == "7.3" and h5py.is_hdf5(path)
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as file:  # the article's h5py recipe
        assert set(file.keys()) == {"#refs#", "celebrityData", "celebrityImageData"}
        data = file["celebrityImageData"]
        assert data.attrs["MATLAB_class"] == b"struct" and data["age"].shape == (1, 30)
        assert data["age"].dtype == np.float64 and data["name"].attrs["MATLAB_class"] == b"cell"
        chars = file[data["name"][0][0]]
        assert chars.dtype == np.uint16 and chars.attrs["MATLAB_class"] == b"char"
        names = [file[ref][()].tobytes().decode("utf-16") for ref in data["name"][0]]
        ages = data["age"][0]
    meta = load_cacd_meta(path)
    assert names == meta["name"].tolist() and ages.tolist() == meta["age"].tolist()


def test_each_version_goes_through_its_own_reader(cacd, monkeypatch):
    expected = load_cacd_meta(cacd / "celebrity2000_meta.mat")

    def refuse(*args, **kwargs):
        raise AssertionError("wrong reader")

    with monkeypatch.context() as patch:
        patch.setattr(scipy.io, "loadmat", refuse)
        pd.testing.assert_frame_equal(load_cacd_meta(cacd / "celebrity2000.mat"), expected)
    with monkeypatch.context() as patch:
        patch.setattr(h5py, "File", refuse)
        pd.testing.assert_frame_equal(load_cacd_meta(cacd / "celebrity2000_meta.mat"), expected)


def test_plain_hdf5_without_matlab_header_is_read(cacd, tmp_path):
    path = tmp_path / "plain.mat"  # HDF5 addresses are relative to its superblock
    path.write_bytes((cacd / "celebrity2000.mat").read_bytes()[512:])
    assert mat_version(path) == "7.3"
    pd.testing.assert_frame_equal(load_cacd_meta(path), load_cacd_meta(cacd / "celebrity2000.mat"))


# -- bad input -------------------------------------------------------------------------------


def test_missing_file_and_non_mat_file(tmp_path, cacd):
    with pytest.raises(FileNotFoundError, match=r"nothing\.mat does not exist; expected a CACD"):
        load_cacd_meta(tmp_path / "nothing.mat")
    image = next((cacd / "CACD2000").iterdir())
    with pytest.raises(ValueError, match=rf"{image.name} is not a MATLAB v5 or v7.3 .mat file"):
        load_cacd_meta(image)
    (tmp_path / "empty.mat").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mat is not a MATLAB"):
        load_cacd_meta(tmp_path / "empty.mat")


def test_mat_without_the_struct_or_fields(tmp_path):
    scipy.io.savemat(tmp_path / "other.mat", {"scores": np.arange(3)})
    with pytest.raises(KeyError, match=r"other\.mat has no struct 'celebrityImageData'.*scores"):
        load_cacd_meta(tmp_path / "other.mat")
    struct = {"age": np.array([[30]]), "name": np.array([["30_A_B_0001.jpg"]], dtype=object)}
    scipy.io.savemat(tmp_path / "partial.mat", {"celebrityImageData": struct})
    with pytest.raises(KeyError, match=r"lacks the fields \['identity', 'year', 'rank'"):
        load_cacd_meta(tmp_path / "partial.mat")
    with h5py.File(tmp_path / "v73.mat", "w") as file:
        file.create_group("celebrityImageData").create_dataset("age", data=np.ones((1, 2)))
    with pytest.raises(KeyError, match=r"in .*v73\.mat lacks the fields"):
        load_cacd_meta(tmp_path / "v73.mat")


def test_fields_of_different_lengths(tmp_path):
    fields = {key: np.ones((3, 1)) for key in META_COLUMNS[:-1]}
    fields["name"] = np.array([["a.jpg"], ["b.jpg"]], dtype=object)
    scipy.io.savemat(tmp_path / "ragged.mat", {"celebrityImageData": fields})
    with pytest.raises(ValueError, match=r"ragged\.mat differ in length"):
        load_cacd_meta(tmp_path / "ragged.mat")


# -- age groups and the choice per group -----------------------------------------------------


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (10, "10s"),
        (19, "10s"),
        (20, "20s"),
        (62, "60s"),
        (99, "90s"),
        (100, "100s"),
        (123, "100s"),
        (23.0, "20s"),
        (np.uint8(45), "40s"),
    ],
)
def test_age_group(age, group):
    assert age_group(age) == group


@pytest.fixture
def meta() -> pd.DataFrame:
    ages = [15] * 7 + [23] * 3 + [101] * 4 + [95] * 5
    names = [f"{age}_P_{i:04d}.jpg" for i, age in enumerate(ages)]
    return pd.DataFrame({"age": ages, "name": names})


def test_select_per_group_is_capped_seeded_and_in_file_order(meta):
    chosen = select_per_group(meta, per_group=4, seed=0)
    assert list(chosen) == ["10s", "20s", "90s", "100s"]  # by age, not as text
    assert {group: len(names) for group, names in chosen.items()} == {
        "10s": 4,
        "20s": 3,
        "90s": 4,
        "100s": 4,
    }
    for group, names in chosen.items():
        assert all(age_group(int(name.split("_")[0])) == group for name in names)
        assert names == sorted(names, key=meta["name"].tolist().index)
    assert chosen == select_per_group(meta, per_group=4, seed=0)
    picks = {tuple(select_per_group(meta, per_group=4, seed=s)["10s"]) for s in range(20)}
    assert len(picks) > 5  # the seed matters
    everything = select_per_group(meta, per_group=100, seed=3)
    assert sum(map(len, everything.values())) == len(meta)


# -- decade folders and the split ------------------------------------------------------------


def test_organize_copies_a_capped_deterministic_choice(cacd, tmp_path):
    images = cacd / "CACD2000"
    before = snapshot(cacd)
    meta = load_cacd_meta(cacd / "celebrity2000_meta.mat")
    counts = organize_by_decade(meta, images, tmp_path / "a", per_group=3, seed=1)
    expected = select_per_group(meta, per_group=3, seed=1)
    assert counts == {group: len(names) for group, names in expected.items()}
    assert max(counts.values()) == 3
    out = snapshot(tmp_path / "a")
    assert sorted(out) == sorted(f"{g}/{n}" for g, names in expected.items() for n in names)
    assert all(data == (images / Path(name).name).read_bytes() for name, data in out.items())
    v73 = load_cacd_meta(cacd / "celebrity2000.mat")
    organize_by_decade(v73, images, tmp_path / "b", per_group=3, seed=1)
    assert snapshot(tmp_path / "b") == out  # either .mat file, same result
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*.jpg")}
    organize_by_decade(meta, images, tmp_path / "a", per_group=3, seed=1)  # nothing to redo
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*.jpg")}
    assert snapshot(cacd) == before  # sources untouched


def test_organize_finishes_an_interrupted_run_and_refuses_other_options(cacd, tmp_path):
    meta, out = load_cacd_meta(cacd / "celebrity2000.mat"), tmp_path / "sorted"
    organize_by_decade(meta, cacd / "CACD2000", out, per_group=3, seed=0)
    complete = snapshot(out)
    victim = sorted(out.rglob("*.jpg"))[0]
    victim.unlink()
    (victim.parent / f".{victim.name}.part").write_bytes(b"half")  # killed while copying
    organize_by_decade(meta, cacd / "CACD2000", out, per_group=3, seed=0)
    assert snapshot(out) == complete
    with pytest.raises(FileExistsError, match="files this run would not write"):
        organize_by_decade(meta, cacd / "CACD2000", out, per_group=2, seed=5)


def test_organize_reports_missing_images(cacd, tmp_path, caplog):
    images = tmp_path / "images"
    shutil.copytree(cacd / "CACD2000", images)
    meta = load_cacd_meta(cacd / "celebrity2000.mat")
    gone = meta["name"][0]
    (images / gone).unlink()
    with pytest.raises(FileNotFoundError, match=rf"1 chosen images are missing .*{gone}"):
        organize_by_decade(meta, images, tmp_path / "out", per_group=100)
    assert not (tmp_path / "out").exists()  # checked before copying anything
    with caplog.at_level(logging.WARNING):
        counts = organize_by_decade(
            meta, images, tmp_path / "out", per_group=100, skip_missing=True
        )
    assert gone in caplog.text and sum(counts.values()) == len(meta) - 1
    with pytest.raises(FileNotFoundError, match="expected the CACD2000 image folder"):
        organize_by_decade(meta, tmp_path / "nowhere", tmp_path / "x")


@pytest.fixture
def groups(tmp_path) -> Path:
    """Decade folders of 10, 5 and 7 small files."""
    src = tmp_path / "sorted"
    for group, count in (("10s", 10), ("20s", 5), ("30s", 7)):
        (src / group).mkdir(parents=True)
        for i in range(count):
            (src / group / f"{group}_{i:02d}.jpg").write_bytes(f"{group}{i}".encode())
    return src


def test_split_is_stratified_disjoint_and_deterministic(groups, tmp_path):
    before = snapshot(groups)
    counts = split_train_val(groups, tmp_path / "split", test_size=0.2, seed=42)
    sizes = {"10s": 10, "20s": 5, "30s": 7}
    assert {g: counts["train"][g] + counts["val"][g] for g in sizes} == sizes
    assert all(1 <= counts["val"][g] <= round(0.2 * n) + 1 for g, n in sizes.items())
    train, val = snapshot(tmp_path / "split" / "train"), snapshot(tmp_path / "split" / "val")
    assert not set(train) & set(val) and sorted({**train, **val}) == sorted(before)
    files = sorted(before)
    labels = [["10s", "20s", "30s"].index(name.split("/")[0]) for name in files]
    _, val_indices = stratified_split_indices(labels, test_size=0.2, seed=42)
    assert sorted(val) == sorted(files[i] for i in val_indices)
    split_train_val(groups, tmp_path / "again", test_size=0.2, seed=42)
    assert snapshot(tmp_path / "again") == snapshot(tmp_path / "split")
    split_train_val(groups, tmp_path / "split", test_size=0.2, seed=42)  # idempotent
    assert snapshot(groups) == before
    folder = ImageFolder(str(tmp_path / "split" / "val"), loader=lambda path: path)
    assert folder.classes == ["10s", "20s", "30s"] and len(folder) == sum(counts["val"].values())


def test_split_bad_input(groups, tmp_path):
    with pytest.raises(ValueError, match="inside the source"):
        split_train_val(groups, groups / "split")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        split_train_val(tmp_path / "nowhere", tmp_path / "out")
    (groups / "40s").mkdir()
    (groups / "40s" / "only.jpg").write_bytes(b"1")
    with pytest.raises(ValueError, match=r"40s holds 1 image\(s\); a stratified split needs 2"):
        split_train_val(groups, tmp_path / "out")


def test_command_line(tmp_path, capsys):
    cacd = make_cacd(tmp_path / "cacd", people=12, images_per_person=4, seed=1)
    assert data_tools_main(["cacd", "inspect", str(cacd / "celebrity2000.mat")]) == 0
    assert "MATLAB v7.3, 48 images of 12 people" in capsys.readouterr().out
    sorted_dir, split_dir = tmp_path / "sorted", tmp_path / "split"
    args = [str(cacd / "celebrity2000_meta.mat"), str(cacd / "CACD2000"), str(sorted_dir)]
    assert data_tools_main(["cacd", "organize", *args, "--per-group", "4", "--seed", "2"]) == 0
    split = ["cacd", "split", str(sorted_dir), str(split_dir), "--test-size", "0.25"]
    assert data_tools_main(split) == 0
    assert {p.name for p in split_dir.iterdir()} == {"train", "val"}
    assert data_tools_main(["cacd", "inspect", str(tmp_path / "missing.mat")]) == 2
    assert "missing.mat does not exist" in capsys.readouterr().err
    assert data_tools_main(["cacd", "inspect", str(cacd / "celebrity2000_meta.mat")]) == 0
    assert "MATLAB v5, 48 images" in capsys.readouterr().out
