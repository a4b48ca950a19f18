from pausebutton.protocol import Envelope, License, PrivateKey, verify_threshold


def test_sign_and_verify_round_trip() -> None:
    key = PrivateKey.from_seed_material(b"smoke")
    lic = License(
        license_id=1,
        chip_id=bytes(32),
        not_before=0,
        not_after=10,
        flop_budget=10**25,
        max_offline=60,
    )
    data = Envelope.create(lic, [key]).encode()
    env = Envelope.decode(data)
    assert env.open_as(License) == lic
    assert verify_threshold(env, [key.public], 1).ok
    assert env.encode() == data
