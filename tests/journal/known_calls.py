"""Six hand-built calls whose report figures are worked out by hand in the tests."""

from __future__ import annotations

from ivr.journal.records import JournalRecord
from ivr.journal.synthetic import CallScript, build_call

T0 = 1_717_200_000.0  # 2024-06-01 00:00:00 UTC
H = 3600.0
D2 = T0 + 86400.0  # 2024-06-02

SCRIPTS = [
    # A: found by ANI, verified first time -> self-service          (06-01 09h)
    CallScript("A", T0 + 9 * H, ani_found=True, verify=["verified"]),
    # B: ANI not found, account on 2nd try, verified on 2nd try     (06-01 09h)
    CallScript("B", T0 + 9 * H + 60, account=["not_found", "found"], verify=["wrong", "verified"]),
    # C: no ANI, "don't have" an account number -> agent           (06-01 10h)
    CallScript("C", T0 + 10 * H, ani_presented=False, account=["dont_have"]),
    # D: found by ANI, "don't have" the answer -> identified only   (06-01 10h)
    CallScript("D", T0 + 10 * H + 60, ani_found=True, verify=["dont_have"]),
    # E: cards line, no ANI, account found, three wrong answers     (06-01 14h)
    CallScript(
        "E",
        T0 + 14 * H,
        service_line="cards",
        ani_presented=False,
        account=["found"],
        verify=["wrong", "wrong", "wrong"],
    ),
    # F: found by ANI, verified, then hangs up before the route     (06-02 08h)
    CallScript("F", D2 + 8 * H, ani_found=True, verify=["verified"], hangup=True),
]


def known_records() -> list[JournalRecord]:
    return [r for s in SCRIPTS for r in build_call(s)]
