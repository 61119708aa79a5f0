"""Build the memory evaluation set: realistic agent notes and labelled queries.

Run ``python tests/data/memory_eval/build_eval_set.py`` to regenerate ``memories.jsonl`` and
``queries.jsonl`` (deterministic). Each topic is a part of an imaginary codebase; each note template
is a kind of thing an agent writes down. A query paraphrases one note (few shared words, so keyword
search alone struggles) or quotes its exact identifier (so semantic search alone struggles), and
notes about the same topic act as distractors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent

TOPICS = [
    dict(comp="payment webhook handler", file="billing/webhooks.py", err="SignatureVerificationError", lib="stripe", env="STRIPE_WEBHOOK_SECRET", table="payments", phase="PHASE_IMPLEMENTATION"),
    dict(comp="login form", file="web/auth/login.tsx", err="CSRF_TOKEN_MISMATCH", lib="next-auth", env="NEXTAUTH_SECRET", table="sessions", phase="PHASE_IMPLEMENTATION"),
    dict(comp="CSV export job", file="reports/export_csv.py", err="UnicodeEncodeError", lib="pandas", env="EXPORT_BUCKET", table="report_runs", phase="PHASE_IMPLEMENTATION"),
    dict(comp="search indexer", file="search/indexer.go", err="ErrBulkRejected", lib="elasticsearch", env="ES_URL", table="search_documents", phase="PHASE_IMPLEMENTATION"),
    dict(comp="API rate limiter", file="gateway/ratelimit.rs", err="TooManyRequests429", lib="governor", env="RATE_LIMIT_PER_MIN", table="api_keys", phase="PHASE_DESIGN"),
    dict(comp="image thumbnailer", file="media/thumbs.py", err="DecompressionBombError", lib="Pillow", env="THUMB_MAX_PIXELS", table="media_assets", phase="PHASE_IMPLEMENTATION"),
    dict(comp="email notification worker", file="notify/email_worker.py", err="SMTPServerDisconnected", lib="aiosmtplib", env="SMTP_HOST", table="outbound_emails", phase="PHASE_TESTING"),
    dict(comp="database migration runner", file="db/migrate.py", err="DuplicateColumn", lib="alembic", env="DATABASE_URL", table="alembic_version", phase="PHASE_DEPLOYMENT"),
    dict(comp="feature flag service", file="flags/client.ts", err="FlagNotFound", lib="unleash", env="UNLEASH_TOKEN", table="feature_flags", phase="PHASE_DESIGN"),
    dict(comp="invoice PDF renderer", file="billing/invoice_pdf.py", err="FontNotFoundError", lib="weasyprint", env="INVOICE_FONT_DIR", table="invoices", phase="PHASE_IMPLEMENTATION"),
    dict(comp="websocket chat gateway", file="chat/gateway.py", err="ConnectionClosedError", lib="websockets", env="CHAT_MAX_CLIENTS", table="chat_messages", phase="PHASE_TESTING"),
    dict(comp="OAuth callback", file="auth/oauth_callback.py", err="InvalidGrantError", lib="authlib", env="OAUTH_CLIENT_SECRET", table="oauth_tokens", phase="PHASE_IMPLEMENTATION"),
    dict(comp="cache layer", file="core/cache.py", err="RedisTimeoutError", lib="redis-py", env="REDIS_URL", table="cache_entries", phase="PHASE_DESIGN"),
    dict(comp="file upload endpoint", file="api/uploads.py", err="RequestEntityTooLarge", lib="starlette", env="MAX_UPLOAD_MB", table="uploads", phase="PHASE_IMPLEMENTATION"),
    dict(comp="scheduled report cron", file="jobs/cron_reports.py", err="MissedScheduleWarning", lib="apscheduler", env="REPORT_CRON", table="report_schedules", phase="PHASE_DEPLOYMENT"),
    dict(comp="GraphQL resolver for orders", file="graphql/orders.py", err="N1QueryDetected", lib="strawberry", env="GRAPHQL_DEPTH_LIMIT", table="orders", phase="PHASE_IMPLEMENTATION"),
    dict(comp="mobile push sender", file="notify/push.kt", err="InvalidRegistrationToken", lib="firebase-admin", env="FCM_CREDENTIALS", table="device_tokens", phase="PHASE_IMPLEMENTATION"),
    dict(comp="audit log writer", file="compliance/audit_log.py", err="SerializationFailure", lib="psycopg", env="AUDIT_RETENTION_DAYS", table="audit_events", phase="PHASE_REQUIREMENTS"),
    dict(comp="shopping cart service", file="shop/cart.py", err="StaleCartVersion", lib="sqlalchemy", env="CART_TTL_HOURS", table="carts", phase="PHASE_IMPLEMENTATION"),
    dict(comp="currency conversion helper", file="billing/fx.py", err="DecimalRoundingDrift", lib="babel", env="FX_RATES_URL", table="fx_rates", phase="PHASE_TESTING"),
    dict(comp="Kubernetes deployment manifest", file="deploy/k8s/api.yaml", err="CrashLoopBackOff", lib="helm", env="KUBE_NAMESPACE", table="deploy_history", phase="PHASE_DEPLOYMENT"),
    dict(comp="CI pipeline", file=".github/workflows/ci.yml", err="CacheRestoreMiss", lib="actions/cache", env="CI_PYTHON_VERSION", table="ci_runs", phase="PHASE_DEPLOYMENT"),
    dict(comp="user profile page", file="web/profile/Profile.vue", err="HydrationMismatch", lib="nuxt", env="PROFILE_CDN", table="user_profiles", phase="PHASE_IMPLEMENTATION"),
    dict(comp="password reset flow", file="auth/password_reset.py", err="TokenExpiredError", lib="itsdangerous", env="RESET_TOKEN_TTL", table="password_resets", phase="PHASE_REQUIREMENTS"),
    dict(comp="data warehouse loader", file="etl/load_warehouse.py", err="SchemaDriftDetected", lib="dbt", env="WAREHOUSE_DSN", table="fact_orders", phase="PHASE_DESIGN"),
    dict(comp="PDF text extractor", file="ingest/pdf_text.py", err="PdfReadError", lib="pypdf", env="OCR_FALLBACK", table="documents", phase="PHASE_IMPLEMENTATION"),
    dict(comp="geolocation lookup", file="geo/lookup.py", err="AddressNotFoundError", lib="geoip2", env="GEOIP_DB_PATH", table="ip_locations", phase="PHASE_TESTING"),
    dict(comp="recommendation model server", file="ml/recommend_server.py", err="CUDAOutOfMemory", lib="onnxruntime", env="MODEL_BATCH_SIZE", table="recommendations", phase="PHASE_DESIGN"),
    dict(comp="SAML single sign-on", file="auth/saml.py", err="SignatureInvalid", lib="python3-saml", env="SAML_IDP_CERT", table="sso_connections", phase="PHASE_REQUIREMENTS"),
    dict(comp="inventory sync worker", file="warehouse/inventory_sync.py", err="DeadlockDetected", lib="celery", env="INVENTORY_SYNC_INTERVAL", table="stock_levels", phase="PHASE_IMPLEMENTATION"),
    dict(comp="two-factor authentication", file="auth/totp.py", err="InvalidTOTPCode", lib="pyotp", env="TOTP_DRIFT_STEPS", table="mfa_devices", phase="PHASE_TESTING"),
    dict(comp="sitemap generator", file="seo/sitemap.py", err="SitemapTooLarge", lib="lxml", env="SITEMAP_BASE_URL", table="public_pages", phase="PHASE_IMPLEMENTATION"),
]

# (memory_type, note template, paraphrase query template or None, identifier query template or None)
NOTES = [
    ("error_fix", "Fixed {err} in the {comp}: the {lib} client was built at import time, before {env} was loaded, so every call used an empty value. Client construction now happens lazily in {file}.",
     "the {comp} failed because its client was created before the configuration was read", "{err} {lib}"),
    ("error_fix", "Intermittent {err} from the {comp} under load was caused by sharing one connection across threads. Each worker now opens its own connection; see {file}.",
     "sporadic failures in the {comp} only when many requests arrive at once", None),
    ("error_fix", "Test flakiness in {file}: assertions ran before the {comp} finished its background work. Replaced sleep(1) with polling until the {table} row appears.",
     "tests for the {comp} pass sometimes and fail other times because they do not wait long enough", None),
    ("decision", "Decision: the {comp} keeps its state in the {table} table instead of an in-memory dict, so restarts lose nothing. Trade-off: one extra write per request.",
     "why did we choose to persist the {comp} data in the database rather than memory", None),
    ("decision", "Chose {lib} for the {comp} over writing our own: it is maintained, handles edge cases, and the team already knows it.",
     "reasoning for picking a third-party library for the {comp} instead of building one", "{lib} chosen"),
    ("decision", "The {comp} reads {env} once at start-up and refuses to start when it is missing, instead of failing later on the first request.",
     "should the {comp} crash on boot when a required setting is absent", "{env}"),
    ("learning", "The {comp} is the slowest step in the request path: profiling showed most time spent serialising rows of {table}. Batching the query cut latency by 60%.",
     "where does the {comp} spend its time and how was it made faster", None),
    ("learning", "Local setup for the {comp}: export {env}, run the migrations, then start the worker. Without the migrations the {table} table is missing and startup fails with a confusing message.",
     "steps to get the {comp} running on a developer laptop", None),
    ("learning", "{lib} retries idempotent calls by default; the {comp} wrapped it in its own retry loop too, multiplying attempts. Removed our loop.",
     "duplicate retries happening in the {comp}", None),
    ("warning", "Do not change the column order of {table}: the {comp} reads it positionally in {file}. A reorder silently corrupts data.",
     "is it safe to reorder the columns used by the {comp}", "{table} column order"),
    ("warning", "Never log the value of {env}; the {comp} used to print its whole config on debug and leaked the secret into logs.",
     "risk of secrets ending up in the logs of the {comp}", "{env} logged"),
    ("warning", "The {comp} is not safe to run twice at the same time: two instances both process the same {table} rows. Use the advisory lock.",
     "what happens if two copies of the {comp} run concurrently", None),
    ("codebase_knowledge", "{file} is the entry point of the {comp}; helpers live next to it and tests are in the tests folder with the same name.",
     "which source file contains the main code of the {comp}", "{file}"),
    ("codebase_knowledge", "The {comp} talks to {lib} only through a thin adapter so tests can use a local instance; the adapter is the only place that imports {lib}.",
     "how the {comp} isolates its external dependency for testing", None),
    ("discovery", "While testing the {comp} found that {err} is swallowed and turned into a generic 500; callers cannot tell it apart from a crash. Filed a bug.",
     "errors in the {comp} get hidden behind a generic server error", "{err} swallowed"),
    ("discovery", "Opportunity: the {comp} recomputes the same {table} aggregates on every call; a cache keyed by day would remove 90% of the queries.",
     "the {comp} repeats identical expensive work that could be cached", None),
]


def build(seed: int = 7, query_count: int = 64) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    memories, targets = [], []
    for t_index, topic in enumerate(TOPICS):
        for n_index, (kind, note, paraphrase, ident) in enumerate(NOTES):
            memory_id = f"m{t_index:02d}_{n_index:02d}"
            memories.append({"id": memory_id, "memory_type": kind, "phase_id": topic["phase"],
                             "content": note.format(**topic), "tags": [topic["lib"]]})
            for style, template in (("paraphrase", paraphrase), ("identifier", ident)):
                if template:
                    targets.append((memory_id, style, template.format(**topic)))
    rng.shuffle(targets)
    paraphrases = [t for t in targets if t[1] == "paraphrase"][: query_count * 3 // 4]
    identifiers = [t for t in targets if t[1] == "identifier"][: query_count - len(paraphrases)]
    queries = [{"id": f"q{i:03d}", "query": q, "style": style, "relevant": [mid]}
               for i, (mid, style, q) in enumerate(sorted(paraphrases + identifiers))]
    return memories, queries


def main() -> None:
    memories, queries = build()
    with (HERE / "memories.jsonl").open("w") as out:
        out.writelines(json.dumps(m) + "\n" for m in memories)
    with (HERE / "queries.jsonl").open("w") as out:
        out.writelines(json.dumps(q) + "\n" for q in queries)
    print(f"{len(memories)} memories, {len(queries)} queries")


if __name__ == "__main__":
    main()
