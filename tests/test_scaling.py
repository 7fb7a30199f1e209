"""rnnkit.data.scaling: the three scalers fit on training data, transform, round-trip
through their saved form, and refuse inputs of the wrong shape."""

import numpy as np
import pytest

from rnnkit.data.scaling import RowScaler, SeriesScaler, StandardScaler, mean_and_std


def test_mean_and_std_only_centres_a_constant_column():
    mean, std = mean_and_std(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])


def test_standard_scaler_uses_training_frames_and_round_trips():
    seqs = [np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([[4.0, 1.0]])]
    scaler = StandardScaler.fit(seqs)
    np.testing.assert_allclose(scaler.mean, [2.0, 1.0])
    np.testing.assert_allclose(scaler.std, [np.sqrt(8 / 3), 1.0])          # a constant feature: 1
    out = scaler.transform(seqs)
    assert out[0].dtype == np.float32 and out[1].shape == (1, 2)
    again = StandardScaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(seqs)[0], out[0])
    assert scaler.model_inputs() == {"input_size": 2}


@pytest.mark.parametrize("sequences, message", [
    ([np.zeros((2, 3))], "has 3 features, expected 2"),
    ([np.zeros((0, 2))], r"T >= 1"),
    ([np.zeros(2)], r"sequences\[0\] must have shape \(T, D\)"),
    ([np.zeros((1, 2)), np.full((1, 2), np.nan)], r"sequences\[1\] holds NaN"),
    ([], "no sequences"),
])
def test_standard_scaler_refuses_bad_sequences_naming_the_first(sequences, message):
    scaler = StandardScaler.fit([np.array([[0.0, 1.0], [2.0, 3.0]])])
    with pytest.raises(ValueError, match=message):
        scaler.transform(sequences)


def test_row_scaler_divides_by_the_training_peak():
    scaler = RowScaler.fit(np.array([[[0, 8], [16, 4]]]))
    out = scaler.transform(np.array([[[16, 0], [8, 8]]]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[1.0, 0.0], [0.5, 0.5]]])
    assert RowScaler.from_dict(scaler.to_dict()).scale == 16.0
    assert scaler.model_inputs() == {"input_size": 2}
    assert RowScaler.fit(np.zeros((1, 2, 2))).scale == 1.0                # all black: no division by 0
    with pytest.raises(ValueError, match="must be 2x2 like the training images"):
        scaler.transform(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match=r"images must be numbers of shape \(N, H, W\)"):
        RowScaler.fit(np.array([["a"]]))


def test_series_scaler_log_round_trip_and_saved_state():
    y = np.arange(1.0, 41.0)[:, None] * [1.0, 2.0]                       # (N=40, C=2)
    log = SeriesScaler(log=True).fit(y)
    np.testing.assert_allclose(log.inverse(log.transform(y)), y)
    np.testing.assert_allclose(log.mean_, np.log(y).mean(axis=0))
    again = SeriesScaler.from_state(log.state())
    np.testing.assert_array_equal(again.transform(y), log.transform(y))
    with pytest.raises(ValueError, match="strictly positive"):
        SeriesScaler(log=True).fit(y - 1.0)
