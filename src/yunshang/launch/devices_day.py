"""Launch day, device stage: the phones that shipped are activated, updated and used.

Buyers activate their phones with their shopping account over the day; an OS
update rolls out in stages to a fleet of phones running the real device agent
(python-tuf ngclient over HTTP against a real server on 127.0.0.1); phones
install apps from the store and send usage telemetry.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from yunshang.agent import DeviceAgent
from yunshang.devices import RolloutState
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.errors import DomainError, Unavailable
from yunshang.kernel.imei import make_imei
from yunshang.kernel.pagination import PageRequest
from yunshang.platform import Platform

MODEL = "Meizu 22 Pro"
BASE_OS, NEW_OS = "1.0.0", "1.1.0"
TAC = "86451204"
#: The apps the demo publishes, shipped beside this module (provenance and licences in
#: ``apks/README.md``).
DEMO_APKS = ("TestActivity.apk", "Invalid.apk", "golden-aligned-v2-out.apk")
APK_DIR = Path(__file__).resolve().parent / "apks"


@dataclass
class DevicesReport:
    registered: int = 0
    shipped_units: int = 0
    activated: int = 0
    fleet: int = 0
    rollout_rounds: list[tuple[int, int, int, str]] = field(default_factory=list)
    updated: int = 0
    update_failures: int = 0
    delta_bytes: int = 0
    image_bytes: int = 0
    apps_published: int = 0
    installs: int = 0
    install_refusals: Counter[str] = field(default_factory=Counter)
    app_store_note: str = ""
    telemetry_events: int = 0
    #: IMEIs of the phones activated today, in activation order
    activated_imeis: list[str] = field(default_factory=list)
    #: packages published to the store
    packages: list[str] = field(default_factory=list)

    @property
    def activation_rate(self) -> float:
        return self.activated / self.shipped_units if self.shipped_units else 0.0


def manufacturing_batch(count: int) -> list[str]:
    """The IMEIs of the units the factory built for launch day."""
    return [make_imei(TAC, n) for n in range(count)]


def register_batch(platform: Platform, merchant: Principal, imeis: list[str]) -> int:
    lines = ["imei,model,serial,os_version,api_level"]
    lines += [f"{imei},{MODEL},MZ{n:08d},{BASE_OS},34" for n, imei in enumerate(imeis)]
    return platform.registry.import_batch(merchant, "\n".join(lines) + "\n").imported


def play_devices(console: Console, platform: Platform, clock: ManualClock, rng: random.Random,
                 *, merchant: Principal, shipped: list[tuple[str, str, list[str]]],
                 workdir: Path, api_url: str, fleet_size: int = 120) -> DevicesReport:
    """``shipped``: (order id, buyer id, IMEIs) of every shipped order; ``api_url``: the
    launch day's API server, which the phones' agents check in with."""
    report = DevicesReport()
    tenant = merchant.tenant
    report.shipped_units = sum(len(units) for _, _, units in shipped)
    platform.relay.drain()  # devices learn from commerce.order_shipped which units sold

    # --- activation, spread over the day after delivery
    day_start = clock.now()
    plan = []
    for _, buyer, units in shipped:
        for imei in units:
            if rng.random() < 0.88:
                plan.append((rng.uniform(0, 20 * 3600), buyer, imei))
    plan.sort()
    tokens: dict[str, str] = {}
    activated: list[str] = []
    with Progress(TextColumn("[bold blue]activations"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("act", total=len(plan))
        for offset, buyer, imei in plan:
            clock.set(day_start + timedelta(seconds=offset))
            if buyer not in tokens:
                tokens[buyer] = platform.keys.create(role=Role.BUYER, tenant=tenant,
                                                     subject=buyer).token
            phone = Principal(key_id="factory", role=Role.DEVICE, tenant=tenant, subject=imei)
            platform.registry.activate(phone, imei=imei, account_token=tokens[buyer])
            # a phone that was just set up is in use: its first screen session
            report.telemetry_events += platform.telemetry.ingest(phone, imei, [
                {"kind": "session", "at": clock.now(),
                 "duration_ms": rng.randint(120_000, 1_800_000)}])
            activated.append(imei)
            progress.advance(task)
    report.activated = len(activated)
    report.activated_imeis = activated
    console.print(f"[green]✓[/] {report.activated} of {report.shipped_units} shipped phones "
                  f"activated with their buyers' accounts ({report.activation_rate:.0%})")

    _rollout(console, platform, clock, rng, merchant, activated, workdir, api_url, fleet_size,
             report)
    _apps_and_usage(console, platform, clock, rng, tenant, activated, report)
    return report


def _rollout(console: Console, platform: Platform, clock: ManualClock, rng: random.Random,
             merchant: Principal, activated: list[str], workdir: Path, api_url: str,
             fleet_size: int, report: DevicesReport) -> None:
    base = rng.randbytes(512 * 1024)
    changed = bytearray(base)
    for pos in rng.sample(range(len(changed)), len(changed) // 100):  # 1% of bytes change
        changed[pos] = (changed[pos] + 1) % 256
    platform.ota.create_release(merchant, model=MODEL, version=BASE_OS, image=base,
                                notes="factory image")
    release = platform.ota.create_release(merchant, model=MODEL, version=NEW_OS,
                                          image=bytes(changed), notes="launch-day fixes")
    report.delta_bytes, report.image_bytes = release.delta_length or 0, release.image_length
    # The first stage must hold more phones than min_reports, whichever phones the
    # stable hash picks: 20 % of a 120-phone fleet is 24 expected, 8 needed.
    rollout = platform.ota.create_rollout(merchant, release_id=release.id, stages=[20, 50, 100],
                                          success_threshold=0.9, failure_threshold=0.2,
                                          min_reports=8)
    fleet = activated[:fleet_size]
    report.fleet = len(fleet)
    root = platform.tuf.root_metadata(1)
    phones_dir = workdir / "phones"
    shutil.rmtree(phones_dir, ignore_errors=True)
    agents: list[DeviceAgent] = []
    for imei in fleet:
        state = phones_dir / imei
        DeviceAgent.provision(state, root=root, image=base, version=BASE_OS,
                              tenant=merchant.tenant, model=MODEL)
        token = platform.keys.create(role=Role.DEVICE, tenant=merchant.tenant,
                                     subject=imei).token
        agents.append(DeviceAgent(api_url, token, imei, state))
    try:
        pending = list(agents)
        # Phones check in when they are on Wi-Fi and charging: a quarter of those
        # not yet updated in each wave (an eighth), so the stages advance while the day goes on.
        for wave in range(1, 41):
            clock.advance(timedelta(hours=1))
            for agent in rng.sample(pending, min(len(pending), max(4, len(pending) // 8))):
                result = agent.run_once()
                if result.status == "updated":
                    report.updated += 1
                    pending.remove(agent)
                elif result.status == "failed":
                    report.update_failures += 1
            now_at = platform.ota.get_rollout(merchant, rollout.id)
            report.rollout_rounds.append((wave, now_at.percent, report.updated,
                                          now_at.state.value))
            if not pending or now_at.state is RolloutState.HALTED:
                break
    finally:
        for agent in agents:
            agent.close()
    table = Table("wave", "stage %", "phones updated", "rollout", title=f"OTA {BASE_OS} → "
                  f"{NEW_OS} on {report.fleet} phones (real agents, TUF-verified delta of "
                  f"{report.delta_bytes:,} B vs image {report.image_bytes:,} B)")
    shown = None
    for i, row in enumerate(report.rollout_rounds):
        # one line per stage change, and the last wave
        if (row[1], row[3]) != shown or i == len(report.rollout_rounds) - 1:
            table.add_row(*(str(x) for x in row))
            shown = (row[1], row[3])
    console.print(table)


def _apps_and_usage(console: Console, platform: Platform, clock: ManualClock,
                    rng: random.Random, tenant: str, activated: list[str],
                    report: DevicesReport) -> None:
    developer = platform.keys.create(role=Role.DEVELOPER, tenant="indie-dev").principal
    packages: list[str] = []
    for name in DEMO_APKS:
        path = APK_DIR / name
        try:
            app, _ = platform.appstore.upload(developer, path.read_bytes())
        except Unavailable as exc:  # the APK verifier (apksigner) is not installed
            report.app_store_note = f"app store stage skipped: {exc.message}"
            break
        packages.append(app.package)
    report.apps_published = len(packages)
    report.packages = packages
    for imei in activated:
        phone = Principal(key_id="phone", role=Role.DEVICE, tenant=tenant, subject=imei)
        if packages and rng.random() < 0.45:
            page = platform.appstore.compatible_apps(phone, imei, PageRequest(limit=50))
            choices = [a.package for a, _ in page.items]
            if choices:
                try:
                    platform.appstore.install(phone, imei, rng.choice(choices))
                    report.installs += 1
                except DomainError as exc:  # e.g. incompatible: counted, shown below
                    report.install_refusals[exc.code.value] += 1
        now = clock.now()
        batch = []
        for _ in range(rng.randint(2, 6)):
            pkg = rng.choice(packages or ["com.meizu.music"])
            batch.append({"kind": "app_open", "at": now, "package": pkg})
            batch.append({"kind": "app_close", "at": now, "package": pkg,
                          "duration_ms": rng.randint(5_000, 900_000)})
        batch.append({"kind": "session", "at": now, "duration_ms": rng.randint(60_000, 3_600_000)})
        report.telemetry_events += platform.telemetry.ingest(phone, imei, batch)
    if report.app_store_note:
        console.print(f"[yellow]![/] {report.app_store_note}")
    console.print(f"[green]✓[/] {report.apps_published} apps published (APK signatures "
                  f"verified); {report.installs} installs; {report.telemetry_events:,} "
                  "telemetry events recorded")
