"""One example per verb, shown at the end of its ``--help`` (docs/cli.md, "House rules").

A verb whose own help has an ``Example:`` paragraph keeps it; the others get theirs from
``EXAMPLES`` when their group loads (``cli/main.py``). ``tests/unit/cli/test_cli_help.py``
walks every command and fails for a verb with none, so a new verb brings its example.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "demo": "pausebutton demo --quick",
    # the regime simulator (docs/sim.md)
    "sim run": "pausebutton sim run examples/world-pause.toml --chips 1000000 --days 60",
    "sim sweep": (
        "pausebutton sim sweep examples/smuggling-ring.toml --param regime.landmark_spacing_km"
        " --values 250,500,1000"
    ),
    "bench sim": "pausebutton bench sim --chips 10000000 --days 90 --workers-list 1,2,all",
    "keys sign-challenge": (
        "pausebutton keys sign-challenge admin.key pausebutton-console-signin:v1:3f…9a:1796400000"
    ),
    "bench console": "pausebutton bench console --facilities 10000 --chips 1000000",
    # governance: members, roots, prohibited lists, witnesses (docs/governance.md)
    "member init": "pausebutton member init nl --name NL --region NL",
    "member revoke": "pausebutton member revoke fr/member-card.json --key nl/member.key",
    "member inbox": "pausebutton member inbox --key de/member.key --follow",
    "root propose": (
        "pausebutton root propose --out k4.cbor --authority auth --threshold pause=4"
        " --add-member it/member-card.json --valid-for 365d"
    ),
    "root sign": "pausebutton root sign k4.cbor --key nl/member.key --out k4-nl.cbor",
    "root assemble": "pausebutton root assemble k4-nl.cbor k4-de.cbor --out root-2.cbor",
    "root chain": "pausebutton root chain roots/*.cbor --trusted trust-root.cbor",
    "root show": "pausebutton root show root-2.cbor --current trust-root.cbor",
    "root submit": "pausebutton root submit root-2.cbor --key nl/member.key",
    "root fetch": "pausebutton root fetch --out-dir roots --after 1",
    "prohibited propose": "pausebutton prohibited propose --out ban.cbor --file model.safetensors",
    "prohibited sign": "pausebutton prohibited sign ban.cbor --key nl/member.key --out b-nl.cbor",
    "prohibited assemble": (
        "pausebutton prohibited assemble b-nl.cbor b-de.cbor --out banned-list.cbor"
        " --trust trust-root.cbor"
    ),
    "prohibited submit": "pausebutton prohibited submit ban.cbor --key nl/member.key",
    "prohibited approve": "pausebutton prohibited approve 1 --key de/member.key",
    "witness init": "pausebutton witness init w1 --name w1",
    # the authority and member states
    "authority init": "pausebutton authority init ./auth --members 5 --threshold 3",
    "authority migrate": "pausebutton authority migrate ./auth --db sqlite:///auth/authority.db",
    "authority serve": "pausebutton authority serve ./auth --admin-key admin.pub --port 8080",
    "registry owner-add": 'pausebutton registry owner-add acme --name "Acme AI" --country NL',
    "registry owners": "pausebutton registry owners --url http://127.0.0.1:8080",
    "registry key-add": "pausebutton registry key-add op.pub --role operator --owner acme",
    "registry keys": "pausebutton registry keys --json",
    "registry key-revoke": "pausebutton registry key-revoke 3f2a…e1 --key admin.key",
    "registry facility-verify": "pausebutton registry facility-verify dc1 --key admin.key",
    "registry facilities": "pausebutton registry facilities --country US --limit 20",
    "registry chips": "pausebutton registry chips --owner acme --status active",
    "registry chip": "pausebutton registry chip 5cc7e2de…3d",
    "registry custody-add": (
        "pausebutton registry custody-add 5cc7e2de…3d --kind installation --at 2026-11-01"
        " --actor acme --facility dc1 --key admin.key"
    ),
    "registry export": "pausebutton registry export chips --out chips.csv",
    "registry import": "pausebutton registry import facilities facilities.csv --key admin.key",
    "registry seed-epoch": "pausebutton registry seed-epoch --limit 50 --key admin.key",
    "registry submit-reports": "pausebutton registry submit-reports r1.cbor r2.cbor --key op.key",
    "registry reports": "pausebutton registry reports 5cc7e2de…3d --after 10",
    "registry alerts": "pausebutton registry alerts --kind gap",
    "registry location-checks": "pausebutton registry location-checks --chip 5cc7e2de…3d",
    "registry location-run": "pausebutton registry location-run --key admin.key",
    "registry stats": "pausebutton registry stats",
    "registry owner": "pausebutton registry owner acme",
    "registry facility": "pausebutton registry facility dc1",
    "registry custody": "pausebutton registry custody 5cc7e2de…3d",
    "registry policy": "pausebutton registry policy",
    "registry trust-root": "pausebutton registry trust-root",
    "registry auth-events": "pausebutton registry auth-events --key admin.key",
    "license issue": (
        "pausebutton license issue --authority ./auth --chip 5cc7e2de…3d --flop '30 YFLOP'"
        " --valid-for 30d --out lic1.bundle"
    ),
    "license approve": "pausebutton license approve 2 --key member-1.key",
    "license applications": "pausebutton license applications --status pending",
    "license list": "pausebutton license list --owner acme --limit 20",
    "license show": "pausebutton license show 1",
    "license fetch": "pausebutton license fetch 1 --out lic1.cbor",
    "pause propose": (
        "pausebutton pause propose --reason 'treaty breach' --scope region:NL --sequence 1"
        " --out pause1.cbor"
    ),
    "pause sign": "pausebutton pause sign pause1.cbor --key member-1.key --out pause1.m1.cbor",
    "pause assemble": (
        "pausebutton pause assemble pause1.m1.cbor pause1.m2.cbor --out pause1.order"
    ),
    "pause submit": "pausebutton pause submit --reason drill --scope region:US --key member-1.key",
    "pause approve": "pausebutton pause approve 1 --key member-2.key",
    "pause proposals": "pausebutton pause proposals --status open",
    "pause list": "pausebutton pause list --active",
    "pause show": "pausebutton pause show 1",
    "pause publish-prohibited": "pausebutton pause publish-prohibited list.cbor --key admin.key",
    "pause prohibited": "pausebutton pause prohibited",
    "pause watch": "pausebutton pause watch --once",
    "resume propose": (
        "pausebutton resume propose --lifts 1 --reason 'drill over' --out resume2.cbor"
    ),
    "resume sign": "pausebutton resume sign resume2.cbor --key member-1.key --out r2.m1.cbor",
    "resume assemble": (
        "pausebutton resume assemble r2.m1.cbor r2.m2.cbor --authority ./auth --out r2.bundle"
    ),
    "resume approve": "pausebutton resume approve 2 --key member-2.key",
    "time issue": "pausebutton time issue --authority ./auth --out time.cbor",
    # chips, vendors and operators
    "chip new": "pausebutton chip new ./chip1 --trust auth/trust-root.cbor --vendor ./vendor",
    "chip install": "pausebutton chip install ./chip1 lic1.bundle",
    "chip run": "pausebutton chip run ./chip1 --flop 1e18",
    "chip status": "pausebutton chip status ./chip1 --json",
    "chip report": "pausebutton chip report ./chip1 --out report1.cbor",
    "chip respond": "pausebutton chip respond ./chip1 challenge.cbor --out response.cbor",
    "chip tamper": "pausebutton chip tamper ./chip1 --reason 'lid opened'",
    "chip verify-reports": (
        "pausebutton chip verify-reports report1.cbor report2.cbor --certificate chip1.cert"
    ),
    "conformance run": "pausebutton conformance run --chip-cli 'pausebutton chip'",
    "agent run": (
        "pausebutton agent run --url https://authority.example --state /var/lib/pausebutton"
        " --operator-key operator.key"
    ),
    "agent resync": (
        "pausebutton agent resync --url https://authority.example --state /var/lib/pausebutton"
        " --operator-key operator.key"
    ),
    "agent status": "pausebutton agent status --state /var/lib/pausebutton",
    "agent respond": (
        "pausebutton agent respond --state /var/lib/pausebutton --gpu GPU-1234 challenge.cbor"
        " --out response.cbor"
    ),
    "agent prohibit": "pausebutton agent prohibit --state /var/lib/pausebutton list.cbor",
    "agent hash": "pausebutton agent hash model.safetensors",
    # auditors
    "log serve": "pausebutton log serve --db sqlite:///log.db --authority ./auth",
    "log append": "pausebutton log append entry.cbor --db sqlite:///log.db --authority ./auth",
    "log bundle": (
        "pausebutton log bundle entry0.bundle --db sqlite:///log.db --authority ./auth --index 0"
    ),
    "log check-alert": "pausebutton log check-alert alert-12.json --trust auth/trust-root.cbor",
    "witness run": (
        "pausebutton witness run --log http://127.0.0.1:8470/v1/log --state ./witness"
        " --key witness.key"
    ),
    # location and detection
    "landmark serve": (
        "pausebutton landmark serve --key landmark.key --lat 52.37 --lon 4.90 --port 7700"
    ),
    "landmark probe": (
        "pausebutton landmark probe 10.0.0.5:7700 --chip-dir ./chip1 --out-csv rtt.csv"
    ),
    "geo verify": (
        "pausebutton geo verify --landmarks landmarks.csv --measurements rtt.csv --claim dc1"
    ),
    "geo locate": "pausebutton geo locate --landmarks landmarks.csv --measurements rtt.csv",
    "geo wonderproxy": "pausebutton geo wonderproxy --holdout 20 --model statistical",
    "detect estimate": "pausebutton detect estimate --hardware 'NVIDIA H100 SXM5' --hours 720",
    "detect hardware": "pausebutton detect hardware",
    "detect calibrate": "pausebutton detect calibrate notable_ai_models.csv",
    "detect schema": "pausebutton detect schema",
    "detect import": "pausebutton detect import scenario/signals/*.csv --store signals.db",
    "detect runs": "pausebutton detect runs --store signals.db",
    "detect check": (
        "pausebutton detect check --store signals.db --registry scenario/registry --findings"
    ),
    "detect demo": "pausebutton detect demo --out ./scenario --actors 30 --days 60",
    "detect whistle keygen": "pausebutton detect whistle keygen intake.key intake.pub",
    "detect whistle submit": (
        "pausebutton detect whistle submit --key intake.pub --claim 'unlicensed run at site X'"
    ),
    "detect whistle intake": "pausebutton detect whistle intake --store intake.db --key intake.key",
    "detect whistle reply": (
        "pausebutton detect whistle reply --store intake.db --key intake.key --submission 1"
        " --message 'which building?'"
    ),
    "detect whistle status": "pausebutton detect whistle status --receipt RECEIPT-CODE",
    "detect inspect schedule": (
        "pausebutton detect inspect schedule --registry scenario/registry --seed-file seed.bin"
    ),
    # tools
    "keys generate": "pausebutton keys generate --out admin.key --public admin.pub",
    "keys show": "pausebutton keys show admin.key",
    "bench protocol": "pausebutton bench protocol --quick --json",
    "bench log": "pausebutton bench log --quick",
    "bench chip": "pausebutton bench chip --json",
    "bench authority": "pausebutton bench authority --quick",
    "bench geo": "pausebutton bench geo --quick",
    "bench detect": "pausebutton bench detect --quick",
    "bench guard": "pausebutton bench guard --quick",
    "bench cli": "pausebutton bench cli",
}
"""``"group verb"`` (or ``"demo"``) -> one command line that shows the verb at work."""
