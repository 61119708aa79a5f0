from phaseloom.domain.identifiers import is_number


def test_only_ascii_decimal_digits_make_a_number():
    assert is_number("42") and is_number("0")
    for text in ("", "4 2", "-1", "1.5", "²", "٣", "四", "x1"):
        assert not is_number(text), text
