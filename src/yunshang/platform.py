"""The composition root: builds the database, engine and services from settings.

The web app, the CLI, the demo and the tests all start the platform through
:class:`Platform`, so they run exactly the same wiring.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from yunshang.commerce import (
    CommerceService,
    RedisEngine,
    ReservationEngine,
    build_engine,
    payment_providers,
)
from yunshang.delivery import Courier, DispatchService, FleetService
from yunshang.devices import (
    DEV_ROOT_WARNING,
    ApkSandbox,
    AppStoreService,
    OtaService,
    RegistryService,
    TelemetryService,
    TufRepository,
)
from yunshang.kernel.auth import KeyStore
from yunshang.kernel.blobs import BlobStore
from yunshang.kernel.clock import Clock, SystemClock
from yunshang.kernel.db import Database
from yunshang.kernel.idempotency import purge_expired
from yunshang.kernel.outages import DATABASE, REDIS, DependencyStates, dependency_of
from yunshang.kernel.ratelimit import RateLimiter, build_limiter
from yunshang.kernel.relay import FunctionSubscriber, Relay
from yunshang.kernel.settings import Settings, get_settings
from yunshang.marketing.auction import (
    AdServing,
    Auctioneer,
    ClickHistory,
    SegmentBook,
    WarehouseAudience,
)
from yunshang.marketing.budgets import BudgetGuard, spend_guard
from yunshang.marketing.campaigns import CampaignCatalog, CampaignService
from yunshang.marketing.openrtb import OpenRtbBidder, bidder_config
from yunshang.marketing.tracking import (
    DEFAULT_LANDING_URLS,
    CampaignOwnership,
    LandingResolver,
    TokenSigner,
    TrackingService,
    attribution_subscriber,
)
from yunshang.qr import QrService, Targets, phone_scanner

if TYPE_CHECKING:
    from datetime import datetime

    from yunshang.analytics import Ingestor, LakeReplica, Warehouse
    from yunshang.analytics.metrics import QueryEngine
    from yunshang.analytics.spark import SparkEngine
    from yunshang.marketing import SpendGuard

log = logging.getLogger(__name__)


class Platform:
    """Everything one server process runs, wired once."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or get_settings()
        self.clock = clock or SystemClock()
        self.db = Database(self.settings.effective_database_url())
        self.keys = KeyStore(self.db, self.clock,
                             revocation_check_s=self.settings.revocation_check_s)
        redis_url = self.settings.redis_url.get_secret_value() if self.settings.redis_url else None
        #: Up/down state of the database (and Redis), logged once per change.
        self.dependencies = DependencyStates((DATABASE, REDIS) if redis_url else (DATABASE,))
        self.limiter: RateLimiter | None = build_limiter(
            self.settings.rate_limit_per_s, self.settings.rate_limit_burst,
            redis_url=redis_url, dependencies=self.dependencies)
        kind = self.settings.effective_engine()
        self.engine: ReservationEngine = build_engine(
            kind, self.db, self.clock, redis_url=redis_url,
            batch_max=self.settings.batch_max, dependencies=self.dependencies,
            idempotency_ttl=timedelta(seconds=self.settings.idempotency_ttl_s),
            **({"stale_after_s": self.settings.redis_stale_after_s} if kind == "redis" else {}),
        )
        #: Advertising's spend guard: budgets, pacing and frequency caps (Redis at scale).
        self.spend_guard: BudgetGuard = spend_guard(self.settings, self.db, redis_url, self.clock)
        self.registry = RegistryService(db=self.db, clock=self.clock, keys=self.keys)
        # Commerce ships only the registry's phones: its port, wired to the registry.
        providers, sim_gateway = payment_providers(self.settings.var_dir / "payments",
                                                   sim=self.settings.payment_sim)
        self.commerce = CommerceService(
            db=self.db, clock=self.clock, engine=self.engine,
            pay_within=timedelta(seconds=self.settings.unpaid_order_timeout_s),
            auto_release_after=timedelta(days=self.settings.escrow_auto_release_days),
            units=self.registry,
            providers=providers, sim_gateway=sim_gateway,
            return_window=timedelta(days=self.settings.return_window_days),
        )
        self.blobs = BlobStore(self.settings.var_dir / "blobs")
        self.telemetry = TelemetryService(db=self.db, clock=self.clock, registry=self.registry)
        self.appstore = AppStoreService(
            db=self.db, clock=self.clock, blobs=self.blobs, registry=self.registry,
            sandbox=ApkSandbox(memory_limit_bytes=self.settings.apk_inspect_memory_mb << 20,
                               timeout_s=self.settings.apk_inspect_timeout_s))
        self.tuf = TufRepository(self.settings.var_dir / "tuf", self.clock)
        self.ota = OtaService(db=self.db, clock=self.clock, blobs=self.blobs, repo=self.tuf,
                              delta_max_image_bytes=self.settings.ota_delta_max_image_bytes)
        # Advertising: landing targets are checked through commerce's and the store's facades.
        self.campaigns = CampaignService(
            db=self.db, clock=self.clock, blobs=self.blobs, public_url=self.settings.public_url,
            listing_exists=self.commerce.has_listing, app_exists=self.appstore.has_app,
            image_max_bytes=self.settings.ad_image_max_bytes)
        self.campaign_catalog = CampaignCatalog(self.db, public_url=self.settings.public_url)
        # The auction reads its audience and click history from analytics (refreshed by the
        # ingest loop, never on a request's path), its campaigns from the catalog, and holds
        # every winner's cost under the budgets' spend guard before it may win.
        #: Signs what an ad served says into the ids its tracking URLs carry back.
        self.ad_signer = TokenSigner.from_key_dir(self.settings.var_dir / "keys")
        self.ad_clicks = ClickHistory(lambda: self.analytics, self.clock.now)
        self.ad_segments = SegmentBook(WarehouseAudience(lambda: self.analytics), self.clock.now)
        self.auctioneer = Auctioneer(self.campaign_catalog, self.spend_guard, self.ad_clicks,
                                     self.ad_segments, self.clock)
        self.ad_serving = AdServing(registry=self.registry, appstore=self.appstore,
                                    auctioneer=self.auctioneer, signer=self.ad_signer,
                                    public_url=self.settings.public_url)
        self.openrtb = OpenRtbBidder(config=bidder_config(self.settings), signer=self.ad_signer,
                                     clock=self.clock, decider=self.auctioneer,
                                     release=self.spend_guard.release)
        self._audience_due = 0.0  # monotonic: when the sweep loop refreshes it next
        self.relay = Relay(self.db, clock=self.clock,
                           max_attempts=self.settings.relay_max_attempts,
                           backoff_s=self.settings.relay_backoff_s,
                           backoff_max_s=self.settings.relay_backoff_max_s)
        # Devices learn which phones were sold from commerce's shipment events.
        self.relay.subscribe(FunctionSubscriber(
            "devices.shipments", frozenset({"commerce.order_shipped"}),
            lambda conn, event: self.registry.record_shipment(conn, event.tenant,
                                                              event.payload)))
        #: Ad tracking (``/t/…`` notices, attribution, reports) on the campaigns' landings and
        #: owners and the budgets' spend guard; orders are attributed from commerce's events.
        self.ad_tracking = self.wire_ad_tracking(
            landings=self.campaign_catalog, guard=self.spend_guard,
            ownership=self.campaign_catalog)
        self.relay.subscribe(attribution_subscriber(self.ad_tracking.attribution_window))
        #: QR short codes: targets checked through commerce's, the devices' and the
        #: campaigns' facades; listing and app codes land where ad clicks of them do.
        self.qr = QrService(
            db=self.db, clock=self.clock, public_url=self.settings.public_url,
            targets=Targets(
                listing_exists=self.commerce.has_listing, app_exists=self.appstore.has_app,
                device_exists=self.registry.has_device,
                campaign_advertiser=self.campaign_catalog.campaign,
                advertiser_domains=self.campaign_catalog.advertiser_domains,
                scanner=phone_scanner(self.registry.get)),
            target_urls={**DEFAULT_LANDING_URLS,
                         **{str(k): v for k, v in self.settings.ads_landing_urls.items()},
                         **{str(k): v for k, v in self.settings.qr_landing_urls.items()}})
        #: Drone delivery's fleet: hubs, drones, no-fly zones, parcel weights.
        self.fleet = FleetService(db=self.db, clock=self.clock,
                                  parcel_kg=self.settings.delivery_parcel_kg)
        #: Dispatch rounds over paid orders, their (simulated) flights, parcel tracking.
        self.delivery = DispatchService(
            db=self.db, clock=self.clock, fleet=self.fleet, orders=self.commerce,
            promise=timedelta(minutes=self.settings.delivery_promise_min),
            round_every=timedelta(minutes=self.settings.delivery_round_min),
            courier=Courier(carrier=self.settings.delivery_courier,
                            promise=timedelta(hours=self.settings.delivery_courier_hours)))
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._ingester: threading.Thread | None = None
        self._claims_settled_at: float | None = None
        # The analytics warehouse (DuckDB) opens on first use, never at start-up.
        self._analytics_lock = threading.Lock()
        self._warehouse: Warehouse | None = None
        self._warehouse_retry_at = 0.0  # monotonic: when to try opening the file again
        self._replica: LakeReplica | None = None
        self._ingestor: Ingestor | None = None
        self._spark: SparkEngine | None = None

    def wire_ad_tracking(self, *, landings: LandingResolver, guard: SpendGuard,
                         ownership: CampaignOwnership) -> TrackingService:
        """Ad tracking on these ports (the platform's own at start; tests may swap them)."""
        s = self.settings
        self.ad_tracking = TrackingService(
            db=self.db, clock=self.clock,
            signer=self.ad_signer, landings=landings,
            guard=guard, ownership=ownership, public_url=s.public_url,
            landing_urls={str(k): v for k, v in s.ads_landing_urls.items()},
            exchange_rates=s.ads_exchange_rates,
            attribution_window=timedelta(days=s.ads_attribution_window_days))
        return self.ad_tracking

    @property
    def warehouse(self) -> Warehouse:
        with self._analytics_lock:
            if self._warehouse is None:
                from yunshang.analytics import Warehouse

                self._warehouse = Warehouse(self.settings.var_dir / "lake" / "warehouse.duckdb",
                                            memory_limit=self.settings.analytics_memory_limit)
                # Queries in flight on the replica finish on it; new ones use the file.
                self._replica = None
            return self._warehouse

    @property
    def ingestor(self) -> Ingestor:
        warehouse = self.warehouse
        with self._analytics_lock:
            if self._ingestor is None:
                from yunshang.analytics import Ingestor

                self._ingestor = Ingestor(self.db, warehouse, self.settings.var_dir / "lake")
            return self._ingestor

    @property
    def analytics(self) -> QueryEngine:
        """Where metrics run: the DuckDB warehouse, or (``analytics_engine=spark``) Spark
        over the Parquet lake, which the DuckDB ingestor writes either way.

        A process that cannot own the warehouse (another process has the DuckDB file)
        answers from a :class:`~yunshang.analytics.LakeReplica` of it, and tries the
        file again at most once per ingest interval: when the owner stops, the next try
        takes over."""
        if self.settings.analytics_engine != "spark":
            return self._owned_warehouse() or self._lake_replica()
        with self._analytics_lock:
            if self._spark is None:
                from yunshang.analytics.spark import SparkEngine

                self._spark = SparkEngine(self.settings.var_dir / "lake",
                                          master=self.settings.spark_master,
                                          driver_memory=self.settings.spark_driver_memory)
            return self._spark

    @property
    def analytics_as_of(self) -> datetime | None:
        """Answers read now include every event committed before this (None: none yet)."""
        from yunshang.analytics import lake_as_of

        return lake_as_of(self.settings.var_dir / "lake")

    def _owned_warehouse(self) -> Warehouse | None:
        from yunshang.kernel.errors import Unavailable

        if self._warehouse is None and time.monotonic() < self._warehouse_retry_at:
            return None
        try:
            return self.warehouse
        except Unavailable:
            self._warehouse_retry_at = time.monotonic() + max(
                self.settings.analytics_ingest_interval_s, 1.0)
            return None

    def _lake_replica(self) -> LakeReplica:
        with self._analytics_lock:
            if self._replica is None:
                from yunshang.analytics import LakeReplica

                self._replica = LakeReplica(self.settings.var_dir / "lake",
                                            memory_limit=self.settings.analytics_memory_limit)
            return self._replica

    def migrate(self) -> None:
        from yunshang.migrate import upgrade

        upgrade(self.db)

    def start(self, *, background: bool = True) -> None:
        """Starts the reservation engine and, with ``background``, the sweepers and relay."""
        self.engine.start()
        self.spend_guard.start()
        if self.tuf.trust_mode() != "offline":
            log.warning(DEV_ROOT_WARNING)
        if background:
            self.relay.start()
            self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)
            self._sweeper.start()
            if self.settings.analytics_ingest_interval_s > 0:
                self._ingester = threading.Thread(target=self._ingest_loop, name="ingester",
                                                  daemon=True)
                self._ingester.start()

    def sweep(self) -> dict[str, int]:
        """One pass of the periodic jobs: expire unpaid orders, auto-release escrow,
        purge idempotency records, settle flash-sale claims lost with their server,
        expire advertising budget holds, re-sign TUF metadata before it expires."""
        expired = self.commerce.expire_unpaid()
        released = self.commerce.release_due_escrow()
        with self.db.unit_of_work() as uow:
            purged = purge_expired(uow.conn, self.clock.now())
            uow.commit()
        return {"expired": expired, "released": released, "idempotency_purged": purged,
                "claims_recovered": self._settle_stale_claims(),
                "ad_holds_expired": self.spend_guard.sweep(self.clock.now()),
                "tuf_resigned": len(self.tuf.refresh_expiring())}

    def _settle_stale_claims(self) -> int:
        """Redis engine: returns the units of claims admitted by a server that died before
        committing them (the start-up recovery alone would leave them held until some
        server restarts). Runs at most every half ``redis_stale_after_s``."""
        engine = self.engine
        if not isinstance(engine, RedisEngine):
            return 0
        now = time.monotonic()
        last = self._claims_settled_at
        if last is not None and now - last < engine.stale_after_s / 2:
            return 0
        self._claims_settled_at = now
        return engine.recover_stale(older_than_s=engine.stale_after_s, releases=False)

    def probe_dependencies(self) -> dict[str, str]:
        """Asks the database (and Redis) now; records and returns each one's state."""
        try:
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            self.dependencies.up(DATABASE)
        except Exception as exc:
            self.dependencies.down(DATABASE, exc)
        if REDIS in self.dependencies.names:
            client = getattr(self.engine, "redis", None) or getattr(self.limiter, "redis", None)
            try:
                if client is not None:
                    client.ping()
                self.dependencies.up(REDIS)
            except Exception as exc:
                self.dependencies.down(REDIS, exc)
        return self.dependencies.snapshot()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.settings.sweep_interval_s):
            # The probe notices an outage's end (its one "up" line) even when no
            # request comes; the sweep waits for the database.
            if self.probe_dependencies()[DATABASE] == "down":
                continue
            try:
                self.sweep()
            except Exception as exc:  # a failed pass is retried on the next tick
                if dependency_of(exc) is None:
                    log.exception("sweep failed")
                else:
                    self.dependencies.note(exc)

    def refresh_ad_audience(self) -> bool:
        """Recomputes the auction's audience segments and CTR model from analytics;
        False (the previous ones stay) when the warehouse cannot answer now."""
        try:
            self.ad_segments.refresh()
            self.ad_clicks.refresh()
        except Exception:  # the auction keeps serving with the previous figures
            log.warning("ad audience refresh failed; keeping the previous one", exc_info=True)
            return False
        return True

    def _ingest_loop(self) -> None:
        """Keeps the analytics warehouse a few seconds behind the outbox. A server that
        cannot open the warehouse (another process owns the DuckDB file) says so once,
        leaves ingestion to that process and tries again every interval: if the owner
        stops (or dies), one of the others takes over within an interval."""
        from yunshang.kernel.errors import Unavailable

        standing_by = False
        while not self._stop.wait(self.settings.analytics_ingest_interval_s):
            try:
                while not self._stop.is_set() and self.ingestor.run_once():
                    pass
                if standing_by:
                    log.warning("analytics ingestion taken over by this process")
                    standing_by = False
            except Unavailable as exc:
                if not standing_by:
                    log.warning("analytics ingestion left to another process: %s", exc.message)
                    standing_by = True
            except Exception as exc:  # retried on the next tick; exactly-once holds
                if dependency_of(exc) is None:
                    log.exception("analytics ingestion failed")
                else:
                    self.dependencies.note(exc)
            if time.monotonic() >= self._audience_due:  # the owner, or a lake replica
                self._audience_due = time.monotonic() + self.settings.ads_audience_refresh_s
                self.refresh_ad_audience()

    def stop(self) -> None:
        self._stop.set()
        if self._sweeper:
            self._sweeper.join(timeout=5)
        if self._ingester:
            self._ingester.join(timeout=30)
        self.relay.stop()
        self.engine.stop()
        self.spend_guard.stop()
        close_limiter = getattr(self.limiter, "close", None)
        if close_limiter is not None:
            close_limiter()
        if self._warehouse is not None:
            self._warehouse.close()
        if self._spark is not None:
            self._spark.close()
        self.db.dispose()
