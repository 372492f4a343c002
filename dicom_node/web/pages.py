"""Server-rendered dashboard pages (Jinja2). Forms post back here; actions need a login session."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dicom_node.ledger import queries
from dicom_node.web import actions, views
from dicom_node.web.api import MAX_ID, discard, retry
from dicom_node.web.auth import SESSION_COOKIE, SESSION_TTL_S, Operator, authenticator
from dicom_node.web.context import WebParts
from dicom_node.web.tester import MAX_UPLOAD_BYTES, UnreadableUpload, run_rule_test

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=FsPath(__file__).with_name("templates"))
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str, Query(max_length=128)]
NOTICES = {
    "retried": "Job re-queued.",
    "discarded": "Job discarded.",
    "login": "Logged in.",
    "logout": "Logged out.",
}


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _size(n: float | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


templates.env.filters["when"] = _when
templates.env.filters["pretty"] = _pretty
templates.env.filters["size"] = _size


def _parts(request: Request) -> WebParts:
    parts: WebParts = request.app.state.parts
    return parts


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    parts = _parts(request)
    session = authenticator(request).session(request)
    context.update(
        operator=session.user if session else None,
        csrf=session.csrf if session else "",
        logins=authenticator(request).logins,
        show_phi=parts.config.web.show_phi,
        node_ae=parts.config.node.ae_title,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _to_login(back: str) -> RedirectResponse:
    """Actions without a valid login go to the login page, which comes back to ``back`` (a page)."""
    return RedirectResponse(f"/login?next={back}", status_code=status.HTTP_303_SEE_OTHER)


def _form_operator(request: Request, csrf: str) -> Operator | None:
    return authenticator(request).form_operator(request, csrf)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    data = views.overview(_parts(request))
    peak = max([1] + [h["instances"] for h in data["throughput"]])
    return render(request, "overview.html", data=data, peak=peak)


@router.get("/series", response_class=HTMLResponse)
def series_page(
    request: Request,
    state: Text = "",
    modality: Text = "",
    calling_ae: Text = "",
    q: Text = "",
    hours: Annotated[float, Query(ge=0, le=24 * 3650)] = 0,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    parts = _parts(request)
    since = dt.datetime.now().timestamp() - hours * 3600 if hours else None
    flt = queries.SeriesFilter(
        state or None, modality or None, calling_ae or None, q.replace("\x00", "") or None, since
    )
    rows = views.with_identity(
        parts, queries.list_series(parts.ledger, flt, limit=50, offset=(page - 1) * 50)
    )
    filters = {"state": state, "modality": modality, "calling_ae": calling_ae, "q": q, "hours": hours or ""}
    return render(request, "series_list.html", rows=rows, filters=filters, page=page)


@router.get("/series/{series_id}", response_class=HTMLResponse)
def series_detail_page(request: Request, series_id: Id) -> HTMLResponse:
    detail = views.series_detail(_parts(request), series_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"series {series_id} not found")
    return render(request, "series_detail.html", **detail)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    state: Text = "",
    pipeline: Text = "",
    rule: Text = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    flt = queries.JobFilter(state or None, pipeline or None, rule or None)
    rows = queries.list_jobs(_parts(request).ledger, flt, limit=50, offset=(page - 1) * 50)
    filters = {"state": state, "pipeline": pipeline, "rule": rule}
    return render(request, "jobs_list.html", rows=rows, filters=filters, page=page)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: Id) -> HTMLResponse:
    detail = views.job_detail(_parts(request), job_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return render(request, "job_detail.html", **detail, discardable=actions.DISCARDABLE)


@router.post("/jobs/{job_id}/retry")
def retry_form(request: Request, job_id: Id, csrf: Annotated[str, Form()] = "") -> Response:
    if _form_operator(request, csrf) is None:
        return _to_login(f"/jobs/{job_id}")
    retry(_parts(request), job_id)
    return RedirectResponse(f"/jobs/{job_id}?done=retried", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/jobs/{job_id}/discard")
def discard_form(request: Request, job_id: Id, csrf: Annotated[str, Form()] = "") -> Response:
    operator = _form_operator(request, csrf)
    if operator is None:
        return _to_login(f"/jobs/{job_id}")
    discard(_parts(request), job_id, operator)
    return RedirectResponse(f"/jobs/{job_id}?done=discarded", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request) -> HTMLResponse:
    return render(request, "rules.html", rules=views.rules(_parts(request)), result=None, error=None)


@router.post("/rules/test", response_class=HTMLResponse)
def rules_test_form(request: Request, file: UploadFile) -> HTMLResponse:
    parts = _parts(request)
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    result, error = None, None
    if len(data) > MAX_UPLOAD_BYTES:
        error = "upload larger than 64 MiB"
    else:
        try:
            result = run_rule_test(parts.rules, data, parts.config.web.show_phi)
        except UnreadableUpload as exc:
            error = str(exc)
    code = status.HTTP_200_OK if error is None else 422
    return render(request, "rules.html", code, rules=views.rules(parts), result=result, error=error)


@router.get("/destinations", response_class=HTMLResponse)
def destinations_page(request: Request) -> HTMLResponse:
    return render(request, "destinations.html", destinations=views.destinations(_parts(request)), echo=None)


@router.post("/destinations/{name}/echo", response_class=HTMLResponse)
def echo_form(
    request: Request, name: Annotated[str, Path(max_length=64)], csrf: Annotated[str, Form()] = ""
) -> Response:
    parts = _parts(request)
    if _form_operator(request, csrf) is None:
        return _to_login("/destinations")
    destination = parts.config.destinations.get(name)
    if destination is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"destination {name!r} not found")
    result = actions.echo(destination, parts.config.node.ae_title)
    echo = {"destination": name, **result.__dict__}
    return render(request, "destinations.html", destinations=views.destinations(parts), echo=echo)


@router.get("/anonymizer", response_class=HTMLResponse)
def anonymizer_page(request: Request) -> HTMLResponse:
    return render(request, "anonymizer.html", batches=views.anonymizer_batches(_parts(request)))


def _safe_next(target: str) -> str:
    """Only local paths (no scheme, no //host): a login never redirects off this server."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Text = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    session_id = authenticator(request).login(username, password)
    if session_id is None:
        return render(
            request,
            "login.html",
            status.HTTP_401_UNAUTHORIZED,
            next=_safe_next(next),
            error="wrong name or password",
        )
    target = _safe_next(next)
    joiner = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{joiner}done=login", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=int(SESSION_TTL_S), httponly=True, samesite="strict", path="/"
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        authenticator(request).logout(session_id)
    response = RedirectResponse("/?done=logout", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
