"""Effective settings, read from the environment (prefix ``YUNSHANG_``) and ``.env``."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob the platform reads; ``yunshang config`` prints them masked."""

    model_config = SettingsConfigDict(env_prefix="YUNSHANG_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="Embedded data lives here.")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default a SQLite file under var_dir."
    )
    redis_url: SecretStr | None = Field(default=None, description="Redis for the scale engine.")
    public_url: str = Field(
        default="http://127.0.0.1:8000", pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The base URL phones and ad exchanges reach the platform at; tracking "
                    "and image URLs handed out are built on it.")
    reservation_engine: Literal["auto", "embedded", "redis"] = Field(
        default="auto", description="auto: redis when redis_url is set, else embedded."
    )
    unpaid_order_timeout_s: int = Field(default=900, ge=1)
    escrow_auto_release_days: int = Field(default=10, ge=0)
    return_window_days: int = Field(
        default=7, ge=0,
        description="Days after delivery a buyer may still return an order (China's "
                    "\"7 days, no reason\" rule); 0: no returns.")
    ads_landing_urls: dict[Literal["listing", "app", "qr"], Annotated[str, Field(
        pattern=r"^(/|https?://)[^\s]*\{target\}[^\s]*$", max_length=500)]] = Field(
        default_factory=dict,
        description="Where an ad click lands, per landing kind (listing, app, qr): a URL "
                    "template with {target} (the listing id, app package or QR short code); "
                    "one starting with / is under public_url. Unset kinds: /shop/listings/"
                    "{target}, /store/apps/{target}, /q/{target}.")
    qr_landing_urls: dict[Literal["campaign", "device"], Annotated[str, Field(
        pattern=r"^(/|https?://)[^\s]*\{target\}[^\s]*$", max_length=500)]] = Field(
        default_factory=dict,
        description="Where a QR code scan of a campaign or a device box lands: a URL "
                    "template with {target} (the campaign id, the phone's IMEI); one "
                    "starting with / is under public_url. Unset kinds: /campaigns/{target}, "
                    "/setup/{target}. Listing and app codes land as ad clicks do "
                    "(ads_landing_urls).")
    ads_exchange_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
                             Annotated[Decimal, Field(gt=0, le=1_000_000)]] = Field(
        default_factory=dict,
        description="CNY per unit of each other currency OpenRTB prices come in (JSON, "
                    "e.g. {\"USD\": \"7.1\"}); a floor or notice price in a currency "
                    "without a rate is refused, never guessed.")
    ads_attribution_window_days: int = Field(
        default=7, ge=1, le=90,
        description="An order is attributed to its buyer's last ad click or QR scan within "
                    "this many days before the payment.")
    delivery_parcel_kg: float = Field(
        default=0.34, gt=0, le=1000,
        description="A parcel's weight (kg) when its SKU has none set: one boxed phone.")
    delivery_promise_min: int = Field(
        default=60, ge=5, le=24 * 60,
        description="Minutes from payment within which a drone delivery is promised; a "
                    "parcel a round cannot fit waits for the next round while that round "
                    "can still fly it there in time, else it goes by courier.")
    delivery_round_min: int = Field(
        default=10, ge=1, le=24 * 60,
        description="Minutes between dispatch rounds (the waiting rule above counts on it).")
    delivery_courier: str = Field(
        default="SF Express", min_length=1, max_length=40,
        description="The courier orders fall back to (the shipment's carrier).")
    delivery_courier_hours: int = Field(
        default=24, ge=1, le=24 * 14,
        description="Hours from hand-over within which the courier promises delivery.")
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    qr_image_max_bytes: int = Field(
        default=1_000_000, ge=1024, le=8_000_000,
        description="Largest picture (bytes) sent to POST /v1/qr/render to show through a "
                    "QR code; at most the request body limit.")
    ad_image_max_bytes: int = Field(
        default=500_000, ge=1024, le=1_000_000,
        description="Largest creative image (PNG or JPEG) an advertiser may upload; at "
                    "most the request body limit.")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024,
        description="Body limit of the upload routes (OS images); they need a Content-Length.")
    ota_delta_max_image_bytes: int = Field(
        default=128 * 1024 * 1024, ge=0,
        description="Largest OS image diffed against the model's previous release (bsdiff4 "
                    "needs about 16 bytes of memory per image byte); larger ones ship whole.")
    apk_inspect_memory_mb: int = Field(
        default=1024, ge=512,
        description="Address-space limit (RLIMIT_AS) of the child process that inspects an "
                    "uploaded APK, and of the apksigner JVM it starts (run with a 512 MiB heap).")
    apk_inspect_timeout_s: float = Field(
        default=180.0, gt=0,
        description="An APK inspection still running after this is stopped and refused.")
    fast_paths: bool = Field(
        default=True,
        description="Serve well-formed requests of the hot routes (flash-sale orders, "
                    "check-in) without FastAPI's parameter machinery; off only to measure it.")
    rate_limit_per_s: float = Field(
        default=10_000.0, ge=0,
        description="Requests per second each API key may send on average (token bucket; "
                    "0: no limit). In-process on the embedded stack, shared through Redis "
                    "when a Redis URL is set.")
    rate_limit_burst: int = Field(
        default=20_000, ge=1,
        description="Requests a key may send at once before its rate applies.")
    console_session_hours: float = Field(
        default=8, gt=0, le=24 * 30,
        description="How long a web console sign-in lasts before it must be made again.")
    revocation_check_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How often each process checks for revoked API keys (cached keys are "
                    "dropped when any process revoked one).")
    access_log: bool = Field(
        default=False,
        description="Log one JSON line per request (request id, key id, route, status, "
                    "latency) to the 'yunshang.access' logger on stderr.")
    payment_sim: bool = Field(
        default=True,
        description="The built-in simulated payment provider `sim` (its wallet endpoint and "
                    "signed notifications); off where real providers take the money.")
    auto_migrate: bool = Field(default=True, description="Upgrade the schema when serving.")
    sweep_interval_s: float = Field(default=1.0, gt=0)
    ads_audience_refresh_s: float = Field(
        default=300.0, gt=0,
        description="How often each server recomputes the ad auction's audience segments "
                    "and click-through rates from the analytics warehouse (with its "
                    "ingestion: never when analytics_ingest_interval_s is 0).")
    batch_max: int = Field(default=256, ge=1, description="Largest group-commit batch.")
    analytics_engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="Runs metrics on the DuckDB warehouse, or on Spark over the Parquet lake "
                    "(ingestion goes through DuckDB either way).")
    spark_master: str = Field(
        default="local[2]", description="Spark master URL for analytics_engine=spark.")
    spark_driver_memory: str = Field(
        default="2g", pattern=r"^[0-9]+[kmgt]?$",
        description="Heap of the Spark driver (in local mode it does the work), e.g. 4g.")
    analytics_memory_limit: str = Field(
        default="1GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for the analytics warehouse (DuckDB's own default "
                    "is 80 % of RAM, too much beside the platform).")
    analytics_ingest_interval_s: float = Field(
        default=5.0, ge=0,
        description="The server ingests the outbox into the warehouse this often (0: never; "
                    "then `yunshang analytics ingest` does it).")
    relay_max_attempts: int = Field(
        default=5, ge=1, le=100,
        description="The relay parks an event whose handler failed this many times in a row "
                    "(then `yunshang events parked` lists it and `events replay` retries it).")
    relay_backoff_s: float = Field(
        default=0.5, ge=0, le=3600,
        description="Wait before the relay's first retry of a failed event; doubles per "
                    "failure up to relay_backoff_max_s.")
    relay_backoff_max_s: float = Field(
        default=30.0, ge=0, le=86400, description="Longest wait between the relay's retries.")
    ads_hold_ttl_s: int = Field(
        default=900, ge=1, le=7 * 86400,
        description="Advertising: a hold on a campaign's budget neither charged (impression, "
                    "click, billing notice) nor released (loss notice) within this many "
                    "seconds expires and stops counting; a later charge on it is refused.")
    ads_timezone: str = Field(
        default="Asia/Shanghai", pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$",
        description="Advertising: the time zone of the day daily budgets, pacing and "
                    "frequency caps count in (the users' day), an IANA name.")
    ads_pacing_burst: float = Field(
        default=0.02, ge=0, le=1,
        description="Advertising: the share of its daily budget a campaign may spend ahead "
                    "of an even spread over its day (at least one maximum bid).")
    redis_stale_after_s: float = Field(
        default=60.0, gt=0,
        description="Redis engine: a claim admitted this long ago whose order is not in the "
                    "database was lost with its server; the sweeper returns its units.",
    )
    ads_seat: str = Field(
        default="yunshang", min_length=1, max_length=64,
        description="Our seat id in OpenRTB: the seatbid we answer with, and the seat a "
                    "deal's or request's wseat must name for us to bid.")
    ads_bid_margin_ms: int = Field(
        default=15, ge=0, le=10_000,
        description="The bidder stops deciding this long before an OpenRTB request's tmax "
                    "(the network both ways and writing the answer), and answers no bid "
                    "rather than late.")

    @field_validator("ads_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def effective_database_url(self) -> str:
        """The SQLAlchemy URL in force (the SQLite default under ``var_dir``)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.var_dir / 'yunshang.db').resolve()}"

    def effective_engine(self) -> Literal["embedded", "redis"]:
        """Which reservation engine serves flash sales."""
        if self.reservation_engine == "auto":
            return "redis" if self.redis_url is not None else "embedded"
        return self.reservation_engine


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
