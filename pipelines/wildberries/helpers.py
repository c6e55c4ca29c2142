"""The Wildberries client: paging, fallbacks and the rows each resource yields.

Which endpoint gives what, late 2026: marketplace-api.md §6a. Every call goes through the one
HTTP policy (pipelines/http_policy.py); an empty answer means "no data" only where WB says so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa

from pipelines.http_policy import ApiClient, HttpPolicy, MarketplaceAuthError, MarketplaceError
from pipelines.wildberries import settings as S
from pipelines.wildberries import tables as T

MSK = timezone(timedelta(hours=3))


@dataclass(frozen=True)
class WbUrls:
    content: str = "https://content-api.wildberries.ru"
    analytics: str = "https://seller-analytics-api.wildberries.ru"
    statistics: str = "https://statistics-api.wildberries.ru"
    marketplace: str = "https://marketplace-api.wildberries.ru"
    common: str = "https://common-api.wildberries.ru"

    @classmethod
    def from_sandbox(cls, urls: dict[str, str]) -> WbUrls:
        return cls(
            urls["wb_content"],
            urls["wb_analytics"],
            urls["wb_statistics"],
            urls["wb_marketplace"],
            urls["wb_common"],
        )


def key_fingerprint(secret: str) -> str:
    """A short, non-reversible id of a key: safe for logs, metadata and rate-limit buckets."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class WbClient:
    def __init__(self, token: str, urls: WbUrls, policy: HttpPolicy | None = None) -> None:
        self.urls = urls
        self.api = ApiClient(
            "wildberries",
            key_fingerprint(token),
            {"Authorization": token},
            policy or HttpPolicy(),
            penalized_4xx=S.PENALIZED_4XX,
        )
        self._sizes: pa.Table | None = None
        self._remains: pa.Table | None = None
        # The products resource runs in a dlt worker thread; the stock fallbacks need the sizes
        # too, so they are fetched once under this lock, whichever thread asks first.
        self._sizes_lock = threading.Lock()
        self._remains_lock = threading.Lock()

    def forget(self) -> None:
        """Drop the per-sync caches (every size, the whole warehouse_remains report): dlt keeps the
        source, and so this client, alive through normalize and load, where the caches only held
        memory (bench/bench_sync.py)."""
        self._sizes = self._remains = None

    # --- token -------------------------------------------------------------------------------

    def check_categories(self, hosts: tuple[str, ...] = tuple(S.HOST_CATEGORIES)) -> None:
        """Ping each host the sync needs; name every category the token lacks."""
        missing = []
        for host in hosts:
            status, body = self.api.call(
                "GET",
                getattr(self.urls, host) + "/ping",
                S.PING,
                endpoint=f"WB {host} /ping",
                allow_statuses=frozenset({401}),
            )
            if status == 401:
                detail = str((body or {}).get("detail", ""))
                if "scope not allowed" not in detail:
                    raise MarketplaceAuthError(
                        "WB /ping", f"the token was refused: {detail or 'HTTP 401'}", 401
                    )
                missing.append(S.HOST_CATEGORIES[host])
        if missing:
            raise MarketplaceAuthError(
                "WB /ping",
                "the token lacks the API categories "
                + ", ".join(missing)
                + "; create a token with them in the seller cabinet",
                401,
            )

    # --- products ------------------------------------------------------------------------------

    def sizes(self) -> pa.Table:
        """Every card's sizes (`tables.SIZES`, one row per chrtID); fetched once per sync."""
        with self._sizes_lock:
            if self._sizes is None:
                # A table per page: a page's dicts are garbage before the next page arrives.
                pages = [
                    pa.Table.from_pylist(
                        [row for card in cards for row in _explode_sizes(card)], schema=T.SIZES
                    )
                    for cards in self._card_pages()
                ]
                sizes = pa.concat_tables(pages).combine_chunks() if pages else T.SIZES.empty_table()
                # A card edited while the list is read can come again on a later page: its
                # newest version wins.
                self._sizes = T.last_per_key(sizes, ["chrt_id"])
            return self._sizes

    def size_rows(self) -> list[dict[str, Any]]:
        """The sizes as dicts, for the fallback endpoints' look-ups."""
        return self.sizes().to_pylist()

    def _card_pages(self) -> Iterator[list[dict[str, Any]]]:
        cursor: dict[str, Any] = {"limit": S.CARDS_PAGE}
        while True:
            body = {"settings": {"sort": {"ascending": True}, "cursor": cursor, "filter": {"withPhoto": -1}}}
            _, page = self.api.call(
                "POST",
                self.urls.content + S.CARDS_LIST,
                S.GROUP_CARDS,
                endpoint="WB content cards/list",
                json_body=body,
                parse=orjson.loads,
            )
            yield page["cards"]
            if page["cursor"]["total"] < S.CARDS_PAGE:
                return
            cursor = {
                "limit": S.CARDS_PAGE,
                "updatedAt": page["cursor"]["updatedAt"],
                "nmID": page["cursor"]["nmID"],
            }

    # --- stock -----------------------------------------------------------------------------------

    def wb_warehouse_stock(self) -> pa.Table:
        """Stock on WB warehouses (`tables.STOCK_ROWS`); falls back to the warehouse_remains report
        when the token type is refused (stocks-report serves Personal/Service tokens only)."""
        items = self._report(S.STOCKS_WB, S.GROUP_STOCKS_WB, "WB stocks-report/wb-warehouses")
        if items is None:
            return pa.Table.from_pylist(self.remains_stock(), schema=T.STOCK_ROWS)
        return _stock_rows(items, "FBO", in_way=True)

    def seller_warehouse_stock(self) -> pa.Table:
        """Stock on the seller's own (FBS) warehouses: the 2026 report, else a per-warehouse fan-out."""
        items = self._report(S.STOCKS_SELLER, S.GROUP_STOCKS_SELLER, "WB stocks-report/seller-warehouses")
        if items is None:
            return pa.Table.from_pylist(self._seller_stock_fan_out(), schema=T.STOCK_ROWS)
        return _stock_rows(items, "FBS", in_way=False)

    def _report(self, path: str, group: Any, endpoint: str) -> pa.Table | None:
        """All items of a stocks-report (offset paging) as `tables.STOCKS_REPORT_ITEM` rows; None
        when WB refuses this token type. Each page is read from its bytes into Arrow."""
        pages: list[pa.Table] = []
        offset = 0
        while True:
            status, page = self.api.call(
                "POST",
                self.urls.analytics + path,
                group,
                endpoint=endpoint,
                json_body={"limit": S.REPORT_PAGE, "offset": offset},
                allow_statuses=frozenset({403}),
                parse=T.stocks_report_items,
            )
            if status == 403:
                return None
            if page is not None:  # None: 204, WB has no stock for this seller
                pages.append(page)
            if page is None or page.num_rows < S.REPORT_PAGE:
                if not pages:
                    return pa.schema(list(T.STOCKS_REPORT_ITEM)).empty_table()
                return pa.concat_tables(pages)
            offset += S.REPORT_PAGE

    def _seller_stock_fan_out(self) -> list[dict[str, Any]]:
        _, warehouses = self.api.call(
            "GET",
            self.urls.marketplace + S.SELLER_WAREHOUSES,
            S.GROUP_SELLER_WAREHOUSES,
            endpoint="WB /api/v3/warehouses",
        )
        by_chrt = {s["chrt_id"]: s for s in self.size_rows()}
        chrt_ids = list(by_chrt)
        rows = []
        for warehouse in warehouses or []:
            path = S.SELLER_STOCKS.format(warehouse_id=warehouse["id"])
            for start in range(0, len(chrt_ids), S.SELLER_STOCKS_BATCH):
                _, body = self.api.call(
                    "POST",
                    self.urls.marketplace + path,
                    S.GROUP_SELLER_STOCKS,
                    endpoint="WB /api/v3/stocks/{warehouseId}",
                    json_body={"chrtIds": chrt_ids[start : start + S.SELLER_STOCKS_BATCH]},
                )
                for stock in body["stocks"]:
                    if stock["amount"]:
                        rows.append(
                            {
                                "nm_id": by_chrt[stock["chrtId"]]["nm_id"],
                                "chrt_id": stock["chrtId"],
                                "warehouse_id": warehouse["id"],
                                "warehouse_name": warehouse["name"],
                                "region": "",
                                "warehouse_kind": "FBS",
                                "quantity": stock["amount"],
                                "in_way_to_client": 0,
                                "in_way_from_client": 0,
                            }
                        )
        return rows

    def remains_stock(self) -> list[dict[str, Any]]:
        """WB-warehouse stock from the async warehouse_remains report (create → poll → download).

        Transit pseudo-rows are per size, not per warehouse: they become one TRANSIT row per size.
        """
        rows = self._remains_report().to_pylist()
        sizes = self.size_rows()
        by_barcode = {b: s for s in sizes for b in s["barcodes"]}
        by_size = {(s["nm_id"], s["tech_size"]): s for s in sizes}
        out = []
        for row in rows:
            size = by_barcode.get(row.get("barcode") or "") or by_size.get(
                (row.get("nmId"), row.get("techSize"))
            )
            if size is None:
                continue  # a card in the trash: WB still reports its stock, we cannot name it
            transit = {"to": 0, "from": 0}
            for entry in row["warehouses"] or []:
                name = entry["warehouseName"]
                if name == S.REMAINS_TO_CLIENT:
                    transit["to"] = entry["quantity"]
                elif name == S.REMAINS_FROM_CLIENT:
                    transit["from"] = entry["quantity"]
                elif name not in S.REMAINS_PSEUDO:
                    out.append(
                        {
                            "nm_id": size["nm_id"],
                            "chrt_id": size["chrt_id"],
                            "warehouse_id": None,
                            "warehouse_name": name,
                            "region": "",
                            "warehouse_kind": "FBO",
                            "quantity": entry["quantity"],
                            "in_way_to_client": 0,
                            "in_way_from_client": 0,
                        }
                    )
            if transit["to"] or transit["from"]:
                out.append(
                    {
                        "nm_id": size["nm_id"],
                        "chrt_id": size["chrt_id"],
                        "warehouse_id": None,
                        "warehouse_name": "",
                        "region": "",
                        "warehouse_kind": "TRANSIT",
                        "quantity": 0,
                        "in_way_to_client": transit["to"],
                        "in_way_from_client": transit["from"],
                    }
                )
        return out

    def _remains_report(self) -> pa.Table:
        """The warehouse_remains rows by size (`tables.REMAINS_ITEM`), fetched once per client (one
        report per sync)."""
        with self._remains_lock:
            if self._remains is None:
                self._remains = self._fetch_remains_report()
            return self._remains

    def _fetch_remains_report(self) -> pa.Table:
        flags = {f: "true" for f in ("groupByNm", "groupBySa", "groupByBarcode", "groupBySize")}
        _, created = self.api.call(
            "GET",
            self.urls.analytics + S.REMAINS_CREATE,
            S.GROUP_REMAINS_CREATE,
            endpoint="WB warehouse_remains (create)",
            params=flags,
        )
        task_id = created["data"]["taskId"]
        for _ in range(S.REMAINS_MAX_POLLS):
            _, status = self.api.call(
                "GET",
                self.urls.analytics + S.REMAINS_STATUS.format(task_id=task_id),
                S.GROUP_REMAINS_STATUS,
                endpoint="WB warehouse_remains (status)",
            )
            state = status["data"]["status"]
            if state == "done":
                break
            if state in ("canceled", "purged"):
                raise MarketplaceError("WB warehouse_remains", f"the report task was {state} by WB")
            time.sleep(S.REMAINS_POLL_SECONDS / self.api.policy.time_scale)
        else:
            raise MarketplaceError("WB warehouse_remains", "the report was not ready in time")
        _, rows = self.api.call(
            "GET",
            self.urls.analytics + S.REMAINS_DOWNLOAD.format(task_id=task_id),
            S.GROUP_REMAINS_DOWNLOAD,
            endpoint="WB warehouse_remains (download)",
            parse=T.remains_report_rows,
        )
        return rows if rows is not None else pa.schema(list(T.REMAINS_ITEM)).empty_table()  # 204 = no stock

    def remains_by_product(self) -> pa.Table:
        """Per nmID and warehouse_remains line (named warehouses, aggregates and pseudo-rows, among
        them `Всего находится на складах`): units summed over sizes (`tables.REMAINS_ROWS`, sorted
        by nmID and line). The supply guard checks WB's own identities on it
        (warehouse/supply_guard.py)."""
        return T.remains_by_product(self._remains_report())

    # --- orders ----------------------------------------------------------------------------------

    def orders(self, since: datetime, changed_since: datetime | None = None) -> pa.Table:
        """Order lines since `since` (`tables.ORDER_ROWS`), one per srid (its last line, at its first
        line's place): the order feed, else statistics' supplier/orders. With `changed_since`, only
        (at least) the orders whose status changed since then."""
        pages = self._order_feed(since, changed_since)
        if pages is None:
            pages = [pa.Table.from_pylist(self._supplier_orders(since, changed_since), schema=T.ORDER_ROWS)]
        rows = pa.concat_tables(pages) if pages else T.ORDER_ROWS.empty_table()
        return T.last_per_key(rows, ["srid"])  # supplier/orders repeats its page-boundary row

    def _order_feed(self, since: datetime, changed_since: datetime | None) -> list[pa.Table] | None:
        """The feed's pages, each a table: a page's dicts are garbage before the next arrives."""
        earliest = datetime.now(UTC) - timedelta(days=S.ORDER_FEED_MAX_DAYS) + timedelta(minutes=10)
        start = max(since, earliest).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pages: list[pa.Table] = []
        offset, snapshot = 0, None
        while True:
            pagination: dict[str, Any] = {"offset": offset, "limit": S.ORDER_FEED_PAGE}
            if snapshot:
                pagination["snapshotTime"] = snapshot
            status, body = self.api.call(
                "POST",
                self.urls.analytics + S.ORDER_FEED,
                S.GROUP_ORDER_FEED,
                endpoint="WB order-feed",
                json_body={"selectedPeriod": {"start": start}, "pagination": pagination},
                allow_statuses=frozenset({403, 404}),
                parse=orjson.loads,
            )
            if status in (403, 404):
                return None
            data = body["data"]
            snapshot = data["snapshotTime"]
            rows = [
                {
                    "srid": order["srid"],
                    "nm_id": order["nmId"],
                    "chrt_id": order["chrtId"],
                    "ordered_at": _instant(order["createdAt"]),
                    "changed_at": _instant(order["updatedAt"]),
                    "warehouse_name": order["warehouseName"],
                    "warehouse_kind": "FBS" if order["isMp"] else "FBO",
                    "price": float(order["sellerPrice"]),
                    "cancelled": order["status"] in ("cancel", "return", "returnDefective"),
                }
                for order in data["orders"]
            ]
            pages.append(pa.Table.from_pylist(rows, schema=T.ORDER_ROWS))
            if len(data["orders"]) < S.ORDER_FEED_PAGE:
                return pages
            # The feed lists the newest status changes first: past the cursor, the rest is loaded.
            if changed_since is not None and rows[-1]["changed_at"] < changed_since:
                return pages
            offset += S.ORDER_FEED_PAGE

    def _supplier_orders(self, since: datetime, changed_since: datetime | None) -> list[dict[str, Any]]:
        sizes = self.size_rows()
        by_barcode = {b: s for s in sizes for b in s["barcodes"]}
        by_size = {(s["nm_id"], s["tech_size"]): s for s in sizes}
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        # `flag=0` lists the orders whose last change is at or after dateFrom.
        start = max(since, changed_since) if changed_since is not None else since
        date_from = start.astimezone(MSK).strftime("%Y-%m-%dT%H:%M:%S")
        while True:
            _, page = self.api.call(
                "GET",
                self.urls.statistics + S.SUPPLIER_ORDERS,
                S.GROUP_SUPPLIER_ORDERS,
                endpoint="WB supplier/orders",
                params={"dateFrom": date_from, "flag": 0},
            )
            fresh = [r for r in page or [] if r["srid"] not in seen]
            if not fresh:
                return rows
            for order in fresh:
                seen.add(order["srid"])
                size = by_barcode.get(order["barcode"]) or by_size.get((order["nmId"], order["techSize"]))
                ordered = datetime.fromisoformat(order["date"]).replace(tzinfo=MSK)
                if ordered < since:
                    continue
                rows.append(
                    {
                        "srid": order["srid"],
                        "nm_id": order["nmId"],
                        "chrt_id": size["chrt_id"] if size else None,
                        "ordered_at": ordered.astimezone(UTC),
                        "changed_at": _instant(order["lastChangeDate"]),
                        "warehouse_name": order["warehouseName"],
                        "warehouse_kind": "FBS" if order["warehouseType"] == "Склад продавца" else "FBO",
                        "price": float(order["priceWithDisc"]),
                        "cancelled": bool(order["isCancel"]),
                    }
                )
            date_from = page[-1]["lastChangeDate"]


def _stock_rows(items: pa.Table, kind: str, in_way: bool) -> pa.Table:
    """A stocks-report's items as stock rows of one warehouse kind; the seller-warehouses report
    has no in-way columns (0) and may omit the region ("")."""
    n = items.num_rows
    zeros = pa.repeat(pa.scalar(0, pa.int64()), n)
    return pa.table(
        [
            items.column("nmId"),
            items.column("chrtId"),
            items.column("warehouseId"),
            items.column("warehouseName"),
            items.column("regionName") if in_way else items.column("regionName").fill_null(""),
            pa.repeat(pa.scalar(kind, pa.string()), n),
            items.column("quantity"),
            items.column("inWayToClient") if in_way else zeros,
            items.column("inWayFromClient") if in_way else zeros,
        ],
        schema=T.STOCK_ROWS,
    )


def _instant(raw: str) -> datetime:
    """An API timestamp as an aware UTC datetime (WB omits the offset where it means Moscow)."""
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)).astimezone(UTC)


def _explode_sizes(card: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for size in card["sizes"]:
        yield {
            "nm_id": card["nmID"],
            "chrt_id": size["chrtID"],
            "vendor_code": card["vendorCode"],
            "brand": card.get("brand", ""),
            "subject": card.get("subjectName", ""),
            "title": card.get("title", ""),
            "tech_size": size.get("techSize", ""),
            "barcodes": list(size.get("skus") or []),
        }
