"""The Ozon client: paging, fallbacks and the rows each resource yields.

Which method gives what, late 2026: marketplace-api.md §4 and §6a. Every call goes through the one
HTTP policy (pipelines/http_policy.py). Ozon documents no empty answer: every method answers a
JSON object, so an empty or shapeless body is an error, never "no data".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.http_policy import (
    PACER,
    ApiClient,
    HttpPolicy,
    MarketplaceAuthError,
    MarketplaceError,
    MethodGroup,
)
from pipelines.ozon import settings as S
from pipelines.wildberries.helpers import key_fingerprint


@dataclass(frozen=True)
class OzonUrls:
    seller: str = "https://api-seller.ozon.ru"

    @classmethod
    def from_sandbox(cls, urls: dict[str, str]) -> OzonUrls:
        return cls(urls["ozon"])


class OzonApiClient(ApiClient):
    """Ozon counts every call against the Client-Id's 50 rps as well as the method's own limit,
    so each attempt (retries too) waits for both buckets."""

    def _once(self, method: str, url: str, group: MethodGroup, *rest: Any) -> tuple[int, Any]:
        if group.name != S.ACCOUNT.name:
            PACER.acquire(self.account, S.ACCOUNT, self.policy.time_scale)
        return super()._once(method, url, group, *rest)


class OzonClient:
    def __init__(
        self, client_id: str, api_key: str, urls: OzonUrls, policy: HttpPolicy | None = None
    ) -> None:
        self.urls = urls
        # Ozon's limits are per Client-Id, whichever of the seller's keys calls.
        self.api = OzonApiClient(
            "ozon",
            key_fingerprint(f"ozon:{client_id}"),
            {"Client-Id": client_id, "Api-Key": api_key},
            policy or HttpPolicy(),
        )
        self._products: list[dict[str, Any]] | None = None
        self._attributes: list[dict[str, Any]] | None = None

    # --- calls -----------------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any], group: MethodGroup = S.ACCOUNT) -> dict[str, Any]:
        """One method call; any refusal is an error naming the method."""
        answer = self._send(path, body, group, missing_ok=False)
        assert answer is not None
        return answer

    def _post_or_missing(
        self, path: str, body: dict[str, Any], group: MethodGroup = S.ACCOUNT
    ) -> dict[str, Any] | None:
        """One method call; None when Ozon answers 404 (a switched-off method) but the key is fine."""
        return self._send(path, body, group, missing_ok=True)

    def _send(
        self, path: str, body: dict[str, Any], group: MethodGroup, *, missing_ok: bool
    ) -> dict[str, Any] | None:
        endpoint = f"Ozon {path}"
        status, answer = self.api.call(
            "POST",
            self.urls.seller + path,
            group,
            endpoint=endpoint,
            json_body=body,
            empty_statuses=frozenset(),  # Ozon documents no "204 no data"
            allow_statuses=frozenset({404}),
        )
        if status == 404:
            message = _message(answer)
            # Ozon answers an unknown Client-Id/Api-Key with 404 code 5, not 401.
            if S.INVALID_KEY_MARKER in message.lower():
                raise MarketplaceAuthError(endpoint, f"the key was refused: {message}", 404)
            if missing_ok:
                return None
            raise MarketplaceError(endpoint, f"HTTP 404: {message}", 404)
        if not isinstance(answer, dict):
            raise MarketplaceError(endpoint, f"HTTP {status} without a JSON object", status)
        return answer

    def check_key(self) -> None:
        """A one-item product list: refuses a wrong Client-Id/Api-Key before anything is loaded."""
        self._post(S.PRODUCT_LIST, {"filter": {"visibility": "ALL"}, "last_id": "", "limit": 1})

    # --- products --------------------------------------------------------------------------------

    def products(self) -> list[dict[str, Any]]:
        """Every product with an Ozon SKU (list + info); fetched once per sync."""
        if self._products is None:
            listed = list(self._product_list())
            details: dict[int, dict[str, Any]] = {}
            for batch in _batches([p["product_id"] for p in listed], S.INFO_BATCH):
                answer = self._post(S.PRODUCT_INFO, {"product_id": batch})
                for item in _dig(answer, S.PRODUCT_INFO, "items"):
                    details[item["id"]] = item
            rows = []
            for item in listed:
                info = details.get(item["product_id"], {})
                sku = info.get("sku") or item.get("sku")
                if not sku:
                    continue  # not yet on Ozon (no SKU): nothing can be stocked or ordered
                rows.append(
                    {
                        "sku": int(sku),
                        "product_id": item["product_id"],
                        "offer_id": item["offer_id"],
                        "name": info.get("name", ""),
                        # Brand and category names are not here: see attributes() and category_tree().
                        "category_id": info.get("description_category_id"),
                        "type_id": info.get("type_id"),
                        "barcodes": ",".join(info.get("barcodes") or []),
                        "archived": bool(item.get("archived") or info.get("is_archived")),
                    }
                )
            self._products = rows
        return self._products

    def _product_list(self) -> Iterator[dict[str, Any]]:
        last_id, seen = "", 0
        while True:
            answer = self._post(
                S.PRODUCT_LIST, {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": S.PAGE}
            )
            result = _dig(answer, S.PRODUCT_LIST, "result")
            items = _dig(result, S.PRODUCT_LIST, "items")
            yield from items
            seen += len(items)
            total = result.get("total_items")
            if len(items) < S.PAGE or not result.get("last_id") or (total is not None and seen >= total):
                return
            last_id = result["last_id"]

    # --- brand and category ------------------------------------------------------------------------

    def attributes(self) -> list[dict[str, Any]]:
        """Brand (attribute 85) and category ids per product, /v4/product/info/attributes paged by
        `last_id`; fetched once per sync."""
        if self._attributes is None:
            rows: dict[int, dict[str, Any]] = {}
            last_id, seen = "", 0
            while True:
                body = {
                    "filter": {"visibility": "ALL"},
                    "last_id": last_id,
                    "limit": S.ATTRIBUTES_PAGE,
                    "sort_dir": "ASC",
                }
                answer = self._post(S.PRODUCT_ATTRIBUTES, body)
                items = _dig(answer, S.PRODUCT_ATTRIBUTES, "result")
                for item in items:
                    row = _attributes_row(item)
                    if row is not None:  # a product not yet on Ozon has no SKU: nothing to show
                        rows[row["sku"]] = row
                seen += len(items)
                # `total` is a string(int64) in the spec, a number in its example: take both.
                total = answer.get("total")
                done = total is not None and str(total).isdigit() and seen >= int(total)
                if len(items) < S.ATTRIBUTES_PAGE or not answer.get("last_id") or done:
                    break
                last_id = answer["last_id"]
            self._attributes = list(rows.values())
        return self._attributes

    def category_tree(self) -> list[dict[str, Any]]:
        """The types of the seller's products with their category names, from Ozon's whole tree
        (/v1/description-category/tree: one call, no paging). Types nobody sells are left out."""
        used = {(a["description_category_id"], a["type_id"]) for a in self.attributes()}
        used |= {(p["category_id"], p["type_id"]) for p in self.products()}
        answer = self._post(S.CATEGORY_TREE, {"language": S.CATEGORY_LANGUAGE})
        rows = [row for row in _tree_types(_dig(answer, S.CATEGORY_TREE, "result")) if row[:2] in used]
        return [dict(zip(_TREE_COLUMNS, row, strict=True)) for row in rows]

    def _by_sku(self) -> dict[int, dict[str, Any]]:
        return {p["sku"]: p for p in self.products()}

    def _skus(self) -> list[int]:
        return [p["sku"] for p in self.products()]

    # --- stock -----------------------------------------------------------------------------------

    def stock_by_scheme(self) -> list[dict[str, Any]]:
        """Present and reserved per SKU and scheme (fbo, fbs, rfbs, fbp) from /v4/product/info/stocks."""
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        cursor = ""
        while True:
            answer = self._post(
                S.STOCKS_BY_SCHEME, {"filter": {"visibility": "ALL"}, "cursor": cursor, "limit": S.PAGE}
            )
            items = _dig(answer, S.STOCKS_BY_SCHEME, "items")
            for item in items:
                for stock in item.get("stocks") or []:
                    key = (int(stock["sku"]), stock["type"])
                    if key in merged:  # one row per SKU and scheme, whatever the shipment types
                        merged[key]["present"] += stock["present"]
                        merged[key]["reserved"] += stock["reserved"]
                    else:
                        merged[key] = {
                            "sku": key[0],
                            "product_id": item["product_id"],
                            "offer_id": item["offer_id"],
                            "scheme": stock["type"],
                            "present": stock["present"],
                            "reserved": stock["reserved"],
                        }
            cursor = answer.get("cursor") or ""
            if not cursor or not items:
                return list(merged.values())

    def fbo_stock(self) -> list[dict[str, Any]]:
        """Stock at Ozon warehouses: /v1/analytics/stocks, else the legacy stock_on_warehouses."""
        rows = self.fbo_stock_analytics()
        return self.fbo_stock_legacy() if rows is None else rows

    def fbo_stock_analytics(self) -> list[dict[str, Any]] | None:
        """/v1/analytics/stocks in batches of 100 SKUs; None when Ozon no longer serves it."""
        by_sku = self._by_sku()
        rows = []
        for batch in _batches(self._skus(), S.ANALYTICS_BATCH):
            answer = self._post_or_missing(S.ANALYTICS_STOCKS, {"skus": batch}, S.GROUP_ANALYTICS_STOCKS)
            if answer is None:
                return None
            for item in _dig(answer, S.ANALYTICS_STOCKS, "items"):
                sku = int(item["sku"])
                rows.append(
                    {
                        "sku": sku,
                        "product_id": by_sku.get(sku, {}).get("product_id"),
                        "offer_id": item.get("offer_id", ""),
                        "warehouse_id": int(item["warehouse_id"]),
                        "warehouse_name": item["warehouse_name"],
                        "warehouse_kind": "FBO",
                        "cluster": item.get("cluster_name"),
                        "quantity": item["available_stock_count"],
                        "reserved": None,  # this method reports no reservations per warehouse
                        # Ozon reports no units on their way to buyers here: `transit_stock_count`
                        # is supplies on their way to this warehouse (the plan's input below).
                        "in_way_to_client": None,
                        "in_way_from_client": item.get("return_from_customer_stock_count", 0),
                        # Per cluster: what supply planning reads (Ozon's 28-day rates, supplies).
                        "cluster_id": _int_or_none(item.get("cluster_id")),
                        "transit_stock_count": item.get("transit_stock_count", 0),
                        "requested_stock_count": item.get("requested_stock_count", 0),
                        "ads": item.get("ads"),
                        "ads_cluster": item.get("ads_cluster"),
                        "idc": item.get("idc"),
                        "idc_cluster": item.get("idc_cluster"),
                        "turnover_grade": item.get("turnover_grade"),
                    }
                )
        return rows

    def clusters(self) -> list[dict[str, Any]]:
        """/v1/cluster/list: one row per Ozon warehouse with its cluster; [] when not served."""
        answer = self._post_or_missing(S.CLUSTER_LIST, {"cluster_type": S.CLUSTER_TYPE})
        if answer is None:
            return []
        return [
            {
                "cluster_id": int(cluster["id"]),
                "cluster_name": cluster.get("name", ""),
                "warehouse_id": int(warehouse["warehouse_id"]),
                "warehouse_name": warehouse.get("name", ""),
            }
            for cluster in answer.get("clusters") or []
            for logistic in cluster.get("logistic_clusters") or []
            for warehouse in logistic.get("warehouses") or []
        ]

    def fbo_stock_legacy(self) -> list[dict[str, Any]]:
        """/v2/analytics/stock_on_warehouses (offset paging): no warehouse ids, clusters or returns."""
        by_sku = self._by_sku()
        rows = []
        offset = 0
        while True:
            answer = self._post(
                S.STOCK_ON_WAREHOUSES, {"limit": S.PAGE, "offset": offset, "warehouse_type": "ALL"}
            )
            page = _dig(_dig(answer, S.STOCK_ON_WAREHOUSES, "result"), S.STOCK_ON_WAREHOUSES, "rows")
            for row in page:
                sku = int(row["sku"])
                rows.append(
                    {
                        "sku": sku,
                        "product_id": by_sku.get(sku, {}).get("product_id"),
                        "offer_id": row.get("item_code", ""),
                        "warehouse_id": None,
                        "warehouse_name": row["warehouse_name"],
                        "warehouse_kind": "FBO",
                        "cluster": None,
                        "quantity": row["free_to_sell_amount"],
                        "reserved": row.get("reserved_amount"),
                        "in_way_to_client": None,  # not reported; promised = incoming supplies
                        "in_way_from_client": None,
                        "transit_stock_count": row.get("promised_amount", 0),
                    }
                )
            if len(page) < S.PAGE:
                return rows
            offset += S.PAGE

    def fbs_stock(self) -> list[dict[str, Any]]:
        """Stock at the seller's own warehouses: per warehouse, else by SKU batches."""
        rows = self.fbs_stock_by_warehouse()
        return self.fbs_stock_by_sku() if rows is None else rows

    def fbs_stock_by_warehouse(self) -> list[dict[str, Any]] | None:
        """/v2/warehouse/list, then /v1/product/info/warehouse/stocks for each; None on a 404."""
        warehouses = self._warehouses()
        if warehouses is None:
            return None
        rows = []
        for warehouse in warehouses:
            cursor = ""
            while True:
                answer = self._post_or_missing(
                    S.WAREHOUSE_STOCKS,
                    {"warehouse_id": warehouse["warehouse_id"], "limit": S.PAGE, "cursor": cursor},
                )
                if answer is None:
                    return None
                for stock in _dig(answer, S.WAREHOUSE_STOCKS, "stocks"):
                    rows.append(_fbs_row(stock, warehouse["warehouse_id"], warehouse["name"]))
                cursor = answer.get("cursor") or ""
                if not answer.get("has_next") or not cursor:
                    break
        return rows

    def _warehouses(self) -> list[dict[str, Any]] | None:
        warehouses: list[dict[str, Any]] = []
        cursor = ""
        while True:
            answer = self._post_or_missing(S.WAREHOUSE_LIST, {"limit": S.WAREHOUSE_PAGE, "cursor": cursor})
            if answer is None:
                return None
            warehouses += _dig(answer, S.WAREHOUSE_LIST, "warehouses")
            cursor = answer.get("cursor") or ""
            if not answer.get("has_next") or not cursor:
                return warehouses

    def fbs_stock_by_sku(self) -> list[dict[str, Any]]:
        """/v2/product/info/stocks-by-warehouse/fbs for every SKU, in batches, cursor-paged."""
        rows = []
        for batch in _batches(self._skus(), S.FBS_SKU_BATCH):
            cursor = ""
            while True:
                answer = self._post(S.FBS_STOCKS_BY_SKU, {"sku": batch, "limit": S.PAGE, "cursor": cursor})
                for stock in _dig(answer, S.FBS_STOCKS_BY_SKU, "products"):
                    rows.append(_fbs_row(stock, stock["warehouse_id"], stock["warehouse_name"]))
                cursor = answer.get("cursor") or ""
                if not answer.get("has_next") or not cursor:
                    break
        return rows

    # --- turnover --------------------------------------------------------------------------------

    def turnover(self) -> list[dict[str, Any]]:
        """Days of cover and turnover per SKU (FBO, 60-day sales speed); 1 request a minute."""
        by_sku = self._by_sku()
        rows = []
        for batch in _batches(self._skus(), S.TURNOVER_BATCH):
            answer = self._post(
                S.TURNOVER, {"sku": batch, "limit": len(batch), "offset": 0}, S.GROUP_TURNOVER
            )
            for item in _dig(answer, S.TURNOVER, "items"):
                sku = int(item["sku"])
                rows.append(
                    {
                        "sku": sku,
                        "product_id": by_sku.get(sku, {}).get("product_id"),
                        "offer_id": item.get("offer_id", ""),
                        "current_stock": item.get("current_stock", 0),
                        "ads": float(item.get("ads") or 0.0),
                        "idc": float(item.get("idc") or 0.0),
                        "idc_grade": item.get("idc_grade", ""),
                        "turnover": float(item.get("turnover") or 0.0),
                        "turnover_grade": item.get("turnover_grade", ""),
                    }
                )
        return rows

    # --- orders ----------------------------------------------------------------------------------

    def orders(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Order lines (posting × SKU) of FBO and FBS postings created in [since, until]."""
        by_sku = self._by_sku()
        lines: dict[tuple[str, int], dict[str, Any]] = {}
        start = since
        while start < until:  # posting lists take at most a year per call
            end = min(until, start + timedelta(days=S.POSTINGS_MAX_DAYS))
            for kind, postings in (
                ("FBO", self._fbo_postings(start, end)),
                ("FBS", self._fbs_postings(start, end)),
            ):
                for posting in postings:
                    for line in _posting_lines(posting, kind, by_sku):
                        # A posting seen twice (a window restart, a page boundary) stays one line.
                        lines[(line["posting_number"], line["sku"])] = line
            start = end
        return list(lines.values())

    def _fbo_postings(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        window_start, offset = since, 0
        while True:
            body = {
                "dir": "ASC",
                "filter": {"since": _rfc3339(window_start), "to": _rfc3339(until, up=True), "status": ""},
                "limit": S.PAGE,
                "offset": offset,
                "with": {"analytics_data": True, "financial_data": False},
            }
            page = _dig(self._post(S.FBO_POSTINGS, body), S.FBO_POSTINGS, "result")
            yield from page
            if len(page) < S.PAGE:
                return
            offset += S.PAGE
            if offset > S.FBO_POSTINGS_MAX_OFFSET:
                # Ozon refuses deeper offsets: restart the window at the last posting seen
                # (duplicates of that instant are dropped by the caller).
                last = _parse_time(page[-1]["created_at"])
                if last.replace(microsecond=0) <= window_start.replace(microsecond=0):
                    raise MarketplaceError(
                        f"Ozon {S.FBO_POSTINGS}", "more postings in one instant than one window can page"
                    )
                window_start, offset = last, 0

    def _fbs_postings(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body = {
                "dir": "ASC",
                "filter": {"since": _rfc3339(since), "to": _rfc3339(until, up=True)},
                "limit": S.PAGE,
                "offset": offset,
                "with": {"analytics_data": False, "financial_data": False},
            }
            result = _dig(self._post(S.FBS_POSTINGS, body), S.FBS_POSTINGS, "result")
            page = _dig(result, S.FBS_POSTINGS, "postings")
            yield from page
            if not result.get("has_next") or not page:
                return
            offset += S.PAGE


def _message(answer: Any) -> str:
    if isinstance(answer, dict) and answer.get("message"):
        return str(answer["message"])
    return "Not found"


def _dig(answer: Any, path: str, key: str) -> Any:
    """`answer[key]`, or a MarketplaceError naming the method when Ozon's answer lacks it."""
    if not isinstance(answer, dict) or answer.get(key) is None:
        raise MarketplaceError(f"Ozon {path}", f"unexpected answer: no `{key}`")
    return answer[key]


def _attributes_row(item: dict[str, Any]) -> dict[str, Any] | None:
    sku = int(item.get("sku") or 0)  # a string(int64) in the spec
    if not sku:
        return None
    brand: dict[str, Any] = {}
    for attribute in item.get("attributes") or []:
        if attribute.get("id") == S.BRAND_ATTRIBUTE and attribute.get("values"):
            brand = attribute["values"][0]
            break
    return {
        "sku": sku,
        "product_id": item.get("id"),
        "offer_id": item.get("offer_id", ""),
        "brand": brand.get("value") or None,
        "brand_id": brand.get("dictionary_value_id") or None,
        "description_category_id": item.get("description_category_id"),
        "type_id": item.get("type_id"),
    }


_TREE_COLUMNS = (
    "description_category_id",
    "type_id",
    "category_name",
    "type_name",
    "category_path",
    "disabled",
)


def _tree_types(nodes: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """Every type leaf with the category right above it, as `_TREE_COLUMNS`.

    Categories nest to any depth; a product's `description_category_id` is the one directly holding
    its type, so the path above is kept only as text.
    """
    stack: list[tuple[dict[str, Any], tuple[str, ...], int | None, bool]] = [
        (node, (), None, False) for node in reversed(nodes)
    ]
    while stack:
        node, path, category_id, disabled = stack.pop()
        disabled = disabled or bool(node.get("disabled"))
        if node.get("type_id"):
            if category_id is not None:
                yield (
                    category_id,
                    int(node["type_id"]),
                    path[-1],
                    node.get("type_name", ""),
                    " / ".join(path),
                    disabled,
                )
            continue
        here = (*path, node.get("category_name", ""))
        child_id = (
            int(node["description_category_id"]) if node.get("description_category_id") else category_id
        )
        stack += [(child, here, child_id, disabled) for child in reversed(node.get("children") or [])]


def _fbs_row(stock: dict[str, Any], warehouse_id: Any, warehouse_name: str) -> dict[str, Any]:
    present, reserved = stock.get("present", 0), stock.get("reserved", 0)
    return {
        "sku": int(stock["sku"]),
        "product_id": stock.get("product_id"),
        "offer_id": stock.get("offer_id", ""),
        "warehouse_id": int(warehouse_id),
        "warehouse_name": warehouse_name,
        "warehouse_kind": "FBS",
        "cluster": None,
        # Stock means units available to sell (DESIGN §6): Ozon's `present` counts what is on the
        # shelf, the units buyers already hold (`reserved`) included.
        "quantity": max(0, present - reserved),
        "reserved": reserved,
        "in_way_to_client": 0,
        "in_way_from_client": 0,
    }


def _posting_lines(
    posting: dict[str, Any], kind: str, by_sku: dict[int, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    if kind == "FBO":
        analytics = posting.get("analytics_data") or {}
        warehouse_id, warehouse_name = analytics.get("warehouse_id"), analytics.get("warehouse_name", "")
        ordered = posting.get("created_at") or posting["in_process_at"]
    else:
        method = posting.get("delivery_method") or {}
        warehouse_id, warehouse_name = method.get("warehouse_id"), method.get("warehouse", "")
        ordered = posting.get("in_process_at") or posting.get("created_at")
    status = posting.get("status", "")
    lines: dict[int, dict[str, Any]] = {}
    for product in posting.get("products") or []:
        sku = int(product["sku"])
        if sku in lines:  # the same SKU twice in one posting: one line
            lines[sku]["quantity"] += product["quantity"]
            continue
        lines[sku] = {
            "posting_number": posting["posting_number"],
            "sku": sku,
            "product_id": by_sku.get(sku, {}).get("product_id"),
            "offer_id": product.get("offer_id", ""),
            "ordered_at": _parse_time(ordered),
            "warehouse_id": int(warehouse_id) if warehouse_id else None,
            "warehouse_name": warehouse_name,
            "warehouse_kind": kind,
            "quantity": product["quantity"],
            "price": float(product["price"]),
            "status": status,
            "cancelled": status == "cancelled",
        }
    yield from lines.values()


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rfc3339(moment: datetime, *, up: bool = False) -> str:
    """UTC to the second, as Ozon's filters take it; `up` rounds a window's end up."""
    moment = moment.astimezone(UTC)
    if up and moment.microsecond:
        moment += timedelta(seconds=1)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _batches(ids: Sequence[int], size: int) -> Iterator[list[str]]:
    """Ids in batches of `size`, as the strings Ozon's int64 fields are in its spec."""
    for start in range(0, len(ids), size):
        yield [str(i) for i in ids[start : start + size]]
