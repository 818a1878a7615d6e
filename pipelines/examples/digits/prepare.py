"""Step ``prepare``: scikit-learn's bundled 8x8 digits, split and standardised.

Output ``dataset``: an ``.npz`` archive (written without the extension the executor did not ask
for) holding ``x_train``, ``y_train``, ``x_test``, ``y_test`` (features as float32, flattened to
64), and the train ``mean`` and ``std`` used to standardise both splits.

Parameters: ``SEED`` (default 0) fixes the stratified split.
"""
from __future__ import annotations

from pipelines.examples.digits import runtime

TEST_FRACTION = 0.25


def main() -> None:
    out = runtime.output_path("dataset")
    seed = runtime.param_int("seed", 0)

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    runtime.log(f"loaded {len(x)} digits, {x.shape[1]} features, {len(np.unique(y))} classes")

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed
    )
    # Statistics from the training split only, so nothing about the test split leaks in.
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # border pixels that are blank in every training image
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std

    with runtime.replacing(out) as tmp, open(tmp, "wb") as f:
        # A file object, not a name: np.savez would otherwise append ".npz" to the path.
        np.savez(
            f,
            x_train=x_train.astype(np.float32),
            y_train=y_train,
            x_test=x_test.astype(np.float32),
            y_test=y_test,
            mean=mean,
            std=std,
            seed=np.int64(seed),
        )
    runtime.log(f"split seed={seed}: train {len(x_train)}, test {len(x_test)} (stratified)")
    runtime.log(f"wrote dataset to {out}")


if __name__ == "__main__":
    runtime.run(main)
