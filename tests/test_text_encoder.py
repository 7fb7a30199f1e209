"""rnnkit.data.text_encoder: texts -> word ids through a vocabulary fitted on training texts."""

import pytest

from rnnkit.data.text_encoder import TextEncoder


def test_text_encoder_lowercases_maps_unknown_words_and_round_trips():
    encoder = TextEncoder.fit(["Good film", "good plot", "bad film"], min_count=2)
    vocab = encoder.vocab
    assert vocab.tokens == ("<pad>", "<unk>", "film", "good")
    assert encoder.transform(["GOOD zebra film"])[0].tolist() == [3, 1, 2]
    again = TextEncoder.from_dict(encoder.to_dict())
    assert again.vocab == vocab
    assert encoder.model_inputs() == {"vocab_size": 4}
    with pytest.raises(ValueError, match=r"texts\[1\] .* has no words"):
        encoder.transform(["good", "   "])
    with pytest.raises(TypeError, match="a list of strings"):
        encoder.transform("good")
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str, got int"):
        encoder.transform([3])
