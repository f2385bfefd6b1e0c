"""Launch day, device stage: the phones that shipped are activated, updated and used.

Buyers activate their phones with their shopping account over the day (each
phone asks for an OS update while it is set up); that evening an OS update is
released and its staged rollout starts, which the phones take as they check in
over the following weeks (:class:`OsUpdates`: the first 120 activated run the
real device agent, python-tuf ngclient over HTTP against a real server on
127.0.0.1; the others go through the same OTA service in process). Phones
install apps from the store and send usage telemetry.
"""

from __future__ import annotations

import math
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from yunshang.agent import DeviceAgent
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

#: what one check-in did to a phone (the agent's ``UpdateResult.status``)
CheckIn = Literal["up_to_date", "updated", "failed"]


@dataclass
class DevicesReport:
    registered: int = 0
    shipped_units: int = 0
    activated: int = 0
    #: phones in the OS rollout (every activated one), and those running the real agent
    fleet: int = 0
    agents: int = 0
    #: phones that checked in at least once, and check-ins in all
    checked_in: set[str] = field(default_factory=set)
    check_ins: int = 0
    #: (day after launch, stage %, phones updated so far, rollout state) after each night
    rollout_rounds: list[tuple[int, int, int, str]] = field(default_factory=list)
    rollout_state: str = ""
    gate_reports: int = 0
    #: phones that installed the update
    updated_phones: set[str] = field(default_factory=set)
    agents_updated: int = 0
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
    #: the fleet's OS updates, which go on in the weeks after (``play_weeks``)
    updates: OsUpdates | None = None

    @property
    def updated(self) -> int:
        return len(self.updated_phones)

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
    """``shipped``: (order id, buyer id, IMEIs) of every shipped order; the first
    ``fleet_size`` phones activated run the real device agent over HTTP, against the
    launch day's API server at ``api_url``."""
    report = DevicesReport()
    tenant = merchant.tenant
    report.shipped_units = sum(len(units) for _, _, units in shipped)
    platform.relay.drain()  # devices learn from commerce.order_shipped which units sold
    updates = OsUpdates(platform, merchant, workdir / "phones", report, agents=fleet_size,
                        api_url=api_url)
    updates.publish_factory_image(rng)

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
                  console=console) as progress, updates.online():
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
            # and its set-up wizard checks for OS updates (the factory image is current)
            updates.add(imei)
            updates.check_in(imei)
            activated.append(imei)
            progress.advance(task)
    report.activated = len(activated)
    report.activated_imeis = activated
    console.print(f"[green]✓[/] {report.activated} of {report.shipped_units} shipped phones "
                  f"activated with their buyers' accounts ({report.activation_rate:.0%}); each "
                  f"one's set-up wizard checked for OS updates ({BASE_OS} is current)")

    updates.start_rollout(rng)
    console.print(f"[green]✓[/] OS {NEW_OS} released (TUF-signed delta of "
                  f"{report.delta_bytes:,} B vs image {report.image_bytes:,} B); staged "
                  f"rollout {' → '.join(f'{p} %' for p in ROLLOUT_STAGES)}, each stage opening "
                  f"after {report.gate_reports} reports from it, ≥ 90 % of them successful: "
                  "the phones take it when they check in over the following weeks")
    report.updates = updates
    _apps_and_usage(console, platform, clock, rng, tenant, activated, report)
    return report


#: the rollout's stages, in percent of the phones
ROLLOUT_STAGES = (20, 50, 100)


def gate_reports(fleet: int) -> int:
    """The reports a stage needs before the next one opens: 12 % of the fleet (most of
    the first stage's phones), but never more than the first stage holds whichever
    phones the rollout's hash picks (four standard deviations under its expected 20 %)."""
    return max(3, min(int(fleet * 0.12), int(0.2 * fleet - 1.6 * math.sqrt(fleet))))


@dataclass
class _Phone:
    imei: str
    version: str = BASE_OS
    token: str | None = None  # a phone running the real agent: its device key
    agent: DeviceAgent | None = None  # … while the API is served


class OsUpdates:
    """How the OS update reaches every activated phone.

    The first ``agents`` phones run the real device agent: check in over HTTP against
    the API served on loopback, TUF-verified download, delta patch, report. The
    others check in through the same OTA use cases in process, with their own device
    principal, and when offered the update install it and report it through
    :meth:`OtaService.report`, as the agent's ``POST …/update-reports`` does: the
    rollout's gates, the registry's OS version (which the phone's telemetry then
    names) and the events the analytics count are the same for both.
    """

    def __init__(self, platform: Platform, merchant: Principal, state_dir: Path,
                 report: DevicesReport, *, agents: int, api_url: str) -> None:
        self.platform = platform
        self.merchant = merchant
        self.state_dir = state_dir
        self.report = report
        self.agents = agents
        self.api_url = api_url
        self._phones: dict[str, _Phone] = {}
        self._base = b""
        self._url: str | None = None
        self._rollout_id: str | None = None
        self._day = 1  # the night after launch day is the first the rollout runs
        shutil.rmtree(state_dir, ignore_errors=True)

    def publish_factory_image(self, rng: random.Random) -> None:
        """Release the OS the phones ship with: the base of the later delta."""
        self._base = rng.randbytes(512 * 1024)
        self.platform.ota.create_release(self.merchant, model=MODEL, version=BASE_OS,
                                         image=self._base, notes="factory image")

    def add(self, imei: str) -> None:
        """An activated phone joins the fleet; the first ``agents`` run the real agent."""
        phone = _Phone(imei)
        if self.report.agents < self.agents:
            DeviceAgent.provision(self.state_dir / imei, root=self.platform.tuf.root_metadata(1),
                                  image=self._base, version=BASE_OS,
                                  tenant=self.merchant.tenant, model=MODEL)
            phone.token = self.platform.keys.create(role=Role.DEVICE, tenant=self.merchant.tenant,
                                                    subject=imei).token
            self.report.agents += 1
        self._phones[imei] = phone
        self.report.fleet += 1

    @contextmanager
    def online(self) -> Iterator[None]:
        """The agents check in with the launch day's API server meanwhile (their
        connections are closed afterwards)."""
        self._url = self.api_url
        try:
            yield
        finally:
            for phone in self._phones.values():
                if phone.agent is not None:
                    phone.agent.close()
                    phone.agent = None
            self._url = None

    def start_rollout(self, rng: random.Random) -> None:
        """Releases the new OS (1 % of the image's bytes change) and starts its rollout."""
        changed = bytearray(self._base)
        for pos in rng.sample(range(len(changed)), len(changed) // 100):
            changed[pos] = (changed[pos] + 1) % 256
        release = self.platform.ota.create_release(self.merchant, model=MODEL, version=NEW_OS,
                                                   image=bytes(changed),
                                                   notes="launch-day fixes")
        self.report.delta_bytes = release.delta_length or 0
        self.report.image_bytes = release.image_length
        self.report.gate_reports = gate_reports(self.report.fleet)
        rollout = self.platform.ota.create_rollout(
            self.merchant, release_id=release.id, stages=list(ROLLOUT_STAGES),
            success_threshold=0.9, failure_threshold=0.2,
            min_reports=self.report.gate_reports)
        self._rollout_id = rollout.id

    def check_in(self, imei: str) -> CheckIn:
        """The phone asks for an update, and installs the one offered, if any."""
        phone = self._phones[imei]
        if phone.token is not None:
            result = self._agent(phone).run_once()
            status, phone.version = result.status, result.version
        else:
            status = self._check_in_process(phone)
        self.report.checked_in.add(imei)
        self.report.check_ins += 1
        if status == "updated":
            self.report.updated_phones.add(imei)
            self.report.agents_updated += phone.token is not None
        elif status == "failed":
            self.report.update_failures += 1
        if status != "up_to_date":  # a report may have opened the next stage
            self._note_rollout()
        return status

    def _agent(self, phone: _Phone) -> DeviceAgent:
        if self._url is None or phone.token is None:
            raise RuntimeError("the agents check in while the API is served (online())")
        if phone.agent is None:
            phone.agent = DeviceAgent(self._url, phone.token, phone.imei,
                                      self.state_dir / phone.imei)
        return phone.agent

    def _check_in_process(self, phone: _Phone) -> CheckIn:
        device = Principal(key_id="phone", role=Role.DEVICE, tenant=self.merchant.tenant,
                           subject=phone.imei)
        offer = self.platform.ota.check_in(device, imei=phone.imei,
                                           current_version=phone.version)
        if offer is None:
            return "up_to_date"
        via = "delta" if offer.delta_target else "image"
        self.platform.ota.report(device, imei=phone.imei, rollout_id=offer.rollout_id,
                                 success=True, detail=f"installed {offer.version} via {via}")
        phone.version = offer.version
        return "updated"

    def end_of_day(self, day: int) -> None:
        """Notes where the rollout stands after night ``day``'s check-ins."""
        self._note_rollout(always=True)
        self._day = day + 1

    def _note_rollout(self, *, always: bool = False) -> None:
        if self._rollout_id is None:
            return
        rollout = self.platform.ota.get_rollout(self.merchant, self._rollout_id)
        row = (self._day, rollout.percent, self.report.updated, rollout.state.value)
        rounds = self.report.rollout_rounds
        if always or not rounds or rounds[-1][1::2] != row[1::2]:
            rounds.append(row)
        self.report.rollout_state = rollout.state.value

    def print_rollout(self, console: Console) -> None:
        r = self.report
        console.print(f"[green]✓[/] OS {NEW_OS} installed on {r.updated} of {r.fleet} phones "
                      f"({r.agents_updated} of the {r.agents} running the real agent: "
                      f"TUF-verified delta over HTTP; the others through the same OTA service "
                      f"in process), {r.update_failures} failed, {r.check_ins:,} check-ins")
        table = Table("day", "stage %", f"phones on {NEW_OS}", "rollout",
                      title=f"OTA {BASE_OS} → {NEW_OS}, day by day")
        shown = None
        for i, row in enumerate(r.rollout_rounds):
            # one line per stage change, and the last day
            if (row[1], row[3]) != shown or i == len(r.rollout_rounds) - 1:
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
