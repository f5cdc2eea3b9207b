"""Synthetic CACD: cartoon faces that age, with both metadata files of the real dataset.

Each person has fixed traits (skin, hair colour and style, face width, a receding hairline or
not); age changes the face the way the decades do: hair greys from the thirties, forehead lines
and smile folds deepen, the face lengthens, the eyes get smaller, teenagers have rosy cheeks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.data.synthetic.common import build_dataset, save_jpeg, segment_distance
from course_lib.data.synthetic.matfiles import write_meta_v5, write_meta_v73
from course_lib.utils import progress

FIRST_NAMES = (
    "Ada Alan Alice Anna Ben Carla Chen David Elena Emil Farah Grace Hana Ivan Jonas Julia Kofi "
    "Lara Leo Maya Mina Nadia Noah Omar Paula Ravi Rosa Sami Tara Yuki"
).split()
LAST_NAMES = (
    "Abbott Bauer Castillo Dalton Eriksen Fontaine Garcia Hayes Ibsen Jansen Kowalski Laurent "
    "Moreau Nakamura Okafor Petrov Quinn Rossi Santos Tanaka Underwood Vargas Weber Xu Young Zeller"
).split()
SKIN_TONES = ((255, 220, 190), (240, 195, 160), (215, 165, 125), (175, 120, 85), (125, 85, 60))
HAIR_COLOURS = ((25, 20, 20), (70, 45, 30), (120, 80, 45), (215, 180, 110), (150, 65, 35))
FIRST_YEAR, LAST_YEAR = 2004, 2013  # the years CACD's photos were taken
MIN_AGE, MAX_AGE = 10, 69  # ages 10s to 60s
MAX_PEOPLE = len(FIRST_NAMES) * len(LAST_NAMES)  # distinct names


def person_traits(rng: np.random.Generator) -> dict:
    """Traits that identify a person at every age."""
    return {
        "skin": np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))], np.float32),
        "hair": np.asarray(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], np.float32),
        "width": rng.uniform(0.88, 1.08),
        "recede": rng.uniform(0, 1) if rng.random() < 0.5 else 0.0,
        "long_hair": rng.random() < 0.4,
        "clothes": rng.uniform(30, 220, size=3),
    }


def draw_face(age: float, person: dict, rng: np.random.Generator, *, size: int = 64) -> np.ndarray:
    """``person`` (from ``person_traits``) at ``age``: uint8 (size, size, 3), pose and light
    jittered a little."""
    t = np.clip((age - MIN_AGE) / (MAX_AGE - MIN_AGE), 0, 1)  # 0 at 10, 1 at 69
    scale = size * 0.24 * rng.uniform(0.93, 1.07)
    cx, cy = size / 2 + rng.normal(0, size * 0.03, size=2) - (0, size * 0.04)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    X, Y = (x - cx) / scale / person["width"], (y - cy) / scale  # face coordinates
    height = 1.2 + 0.2 * t  # the face lengthens with age
    face = X**2 + (Y / height) ** 2 <= 1
    hairline = -height * (0.6 + 0.35 * t * person["recede"])
    grey = np.clip((age - 32) / 28, 0, 1)  # hair greys from the thirties
    hair_rgb = person["hair"] * (1 - grey) + 200 * grey

    image = np.empty((size, size, 3), np.float32)
    image[:] = rng.uniform(60, 200, size=3) * (0.85 + 0.3 * y[..., None] / size)  # backdrop
    image[(X / 1.9) ** 2 + ((Y - height - 1.4) / 1.1) ** 2 <= 1] = person["clothes"]
    image[(abs(X) < 0.45) & (Y > 0) & (Y < height + 0.5) & ~face] = person["skin"] * 0.85
    bottom = height * (0.9 if person["long_hair"] else -0.1)
    hair = (X / 1.15) ** 2 + ((Y + 0.12) / (height + 0.12)) ** 2 <= 1
    image[hair & (Y < bottom)] = hair_rgb
    image[face] = person["skin"]
    image[face & (Y < hairline)] = hair_rgb

    def paint(mask: np.ndarray, rgb, strength: float = 1.0) -> None:
        image[mask] = image[mask] * (1 - strength) + np.asarray(rgb, np.float32) * strength

    blush = np.clip((24 - age) / 10, 0, 1) * 0.45  # rosy cheeks in the teens
    paint(((abs(X) - 0.55) ** 2 + (Y - 0.3) ** 2 < 0.05) & face, (235, 90, 100), blush)
    for side in (-1, 1):
        eye = (X - side * 0.38) ** 2 + (Y + 0.12) ** 2
        radius = 0.16 * (1.15 - 0.35 * t)  # eyes look smaller with age
        paint(eye < radius**2, (250, 250, 250))
        paint(eye < (0.55 * radius) ** 2, (40, 30, 30))
        paint((abs(Y + 0.38) < 0.05) & (abs(X - side * 0.38) < 0.2), hair_rgb)  # eyebrow
        fold = segment_distance(X, Y, side * 0.2, 0.25, side * 0.42, 0.75 * height) < 0.045
        paint(fold & face, person["skin"] * 0.5, np.clip((age - 38) / 25, 0, 1) * 0.55)
        bag = abs(np.hypot(X - side * 0.38, Y + 0.05) - 0.2) < 0.035
        paint(bag & (Y > 0.02) & face, person["skin"] * 0.6, np.clip((age - 48) / 15, 0, 1) * 0.4)
    for k in range(3):  # forehead lines, one more per decade from the late twenties
        line = abs(Y + 0.5 + 0.1 * k - 0.05 * np.sin(4 * X)) < 0.04
        visible = line & (abs(X) < 0.55) & face & (Y > hairline + 0.05)
        paint(visible, person["skin"] * 0.5, np.clip((age - 28 - 10 * k) / 15, 0, 1) * 0.5)
    paint((abs(X) < 0.05) & (Y > -0.05) & (Y < 0.3), person["skin"] * 0.75)  # nose
    paint((abs(Y - 0.55 * height - 0.12 * X**2) < 0.05) & (abs(X) < 0.32), (160, 60, 60))
    image = image * rng.uniform(0.9, 1.1) + rng.normal(0, 4, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _people_table(rng: np.random.Generator, count: int) -> pd.DataFrame:
    """``celebrityData``: name, identity (1..count), birth year, rank, lfw flag."""
    picks = rng.choice(MAX_PEOPLE, size=count, replace=False)
    # typical ages spread evenly over the decades, so every age group gets people
    spread = rng.permutation(np.arange(count) + rng.random(count)) / count  # in [0, 1)
    centres = MIN_AGE + 4 + (MAX_AGE - MIN_AGE - 8) * spread
    return pd.DataFrame(
        {
            "name": [
                f"{FIRST_NAMES[i // len(LAST_NAMES)]}_{LAST_NAMES[i % len(LAST_NAMES)]}"
                for i in picks
            ],
            "identity": np.arange(1, count + 1),
            "birth": np.round((FIRST_YEAR + LAST_YEAR) / 2 - centres).astype(int),
            "rank": rng.integers(1, 51, size=count),
            "lfw": (rng.random(count) < 0.3).astype(int),
        }
    )


def _image_table(rng: np.random.Generator, people: pd.DataFrame, per_person: int) -> pd.DataFrame:
    """``celebrityImageData`` rows in CACD's order: by person, then year; numbered per year."""
    rows = []
    for person in people.itertuples():
        first, last = (
            max(FIRST_YEAR, person.birth + MIN_AGE),
            min(LAST_YEAR, person.birth + MAX_AGE),
        )
        number, previous = 0, None
        for year in np.sort(rng.integers(first, last + 1, size=per_person)):
            number = 1 if year != previous else number + 1 + int(rng.random() < 0.1)  # gaps
            previous, age = year, int(year - person.birth)
            rows.append(
                {
                    "age": age,
                    "identity": person.identity,
                    "year": int(year),
                    "rank": person.rank,
                    "lfw": person.lfw,
                    "birth": person.birth,
                    "name": f"{age}_{person.name}_{number:04d}.jpg",
                }
            )
    return pd.DataFrame(rows)


def make_cacd(
    root: str | Path,
    *,
    people: int = 40,
    images_per_person: int = 15,
    seed: int = 0,
    image_size: int = 64,
) -> Path:
    """Write a synthetic CACD under ``root``: ``CACD2000/*.jpg``, ``celebrity2000_meta.mat``
    (MATLAB v5) and ``celebrity2000.mat`` (v7.3, with 4 x 4 thumbnails as features)."""
    if not 1 <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be in [1, {MAX_PEOPLE}], got {people}")
    if images_per_person < 1 or image_size < 16:
        raise ValueError("images_per_person must be >= 1 and image_size >= 16")
    params = {
        "dataset": "cacd",
        "people": people,
        "images_per_person": images_per_person,
        "seed": seed,
        "image_size": image_size,
        "version": 1,
    }

    def write(out: Path) -> None:
        rng = np.random.default_rng([seed, 0])
        people_table = _people_table(rng, people)
        images = _image_table(rng, people_table, images_per_person)
        traits = [person_traits(np.random.default_rng([seed, 1, p])) for p in range(people)]
        (out / "CACD2000").mkdir()
        features = np.empty((len(images), 16), np.float64)  # (N, 16)
        rows = progress(images.itertuples(), desc="faces", total=len(images))
        for i, row in enumerate(rows):
            face = draw_face(
                row.age,
                traits[row.identity - 1],
                np.random.default_rng([seed, 2, i]),
                size=image_size,
            )
            save_jpeg(face, out / "CACD2000" / row.name)
            thumb = face.mean(axis=2)[: image_size // 4 * 4, : image_size // 4 * 4]
            features[i] = thumb.reshape(4, image_size // 4, 4, -1).mean(axis=(1, 3)).ravel() / 255
        write_meta_v5(out / "celebrity2000_meta.mat", images, people_table)
        write_meta_v73(out / "celebrity2000.mat", images, people_table, features=features)

    return build_dataset(Path(root), params, write)
