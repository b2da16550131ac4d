"""DICOMweb at /dicom-web (PS3.18): QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Routes translate; kura.imaging decides. Results leave out what the caller may not see;
a study named beyond the caller's clearance answers 403 (break-glass exists, README).
CORS for browser viewers such as OHIF comes from settings.cors_origins.
"""

from __future__ import annotations

from typing import Annotated, Iterable

from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from fastapi import APIRouter, Request
from fastapi import Query as Q
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from kura.errors import Denied, Invalid, KuraError, NotFound
from kura.imaging import service as imaging
from kura.imaging.ingest import Sender, Ticket
from kura.imaging.instance import read_dataset
from kura.imaging.transcode import CannotConvert, transcode, transfer_syntax_of
from kura.imaging.query import ATTRIBUTES, QIDO_DEFAULTS, Query, level_of
from kura.imaging.render import render
from kura.limits import control_characters, parse_index
from kura.web.deps import AuthDep, PublicDep, break_glass_of, kura_of, origin_of, work
from kura.web.dicomweb import accept, multipart, represent
from kura.web.dicomweb.accept import NotAcceptable

__all__ = ["router"]

router = APIRouter(prefix="/dicom-web", tags=["dicomweb"])

DICOM_JSON = "application/dicom+json"
DICOM_PART = "application/dicom"
_PAGING = {"limit", "offset", "includefield", "fuzzymatching"}
_MAX_LIMIT = 1000


def _base(request: Request) -> str:
    """This service's URL for links (RetrieveURL, BulkDataURI). Some clients (dicomweb-client)
    send a Host header without the port; then the port the request arrived on is used."""
    host = request.headers.get("host", "")
    server = request.scope.get("server")
    if host and ":" not in host.rsplit("]", 1)[-1] and server and server[1] not in (80, 443):
        host = f"{host}:{server[1]}"
    return f"{request.url.scheme}://{host or 'localhost'}/dicom-web"


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin")
    allowed = kura_of(request).settings.cors_origins
    if origin and (origin in allowed or "*" in allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Expose-Headers"] = "Content-Type, Content-Length"
    return response


@router.options("/{path:path}")
def preflight(request: Request, path: str, _: PublicDep):
    """CORS preflight: carries no credentials, so it is public by nature (listed by a test)."""
    response = Response(status_code=204)
    if request.headers.get("origin") in kura_of(request).settings.cors_origins or \
            "*" in kura_of(request).settings.cors_origins:
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept, X-Kura-Break-Glass"
        response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


# -- QIDO-RS --------------------------------------------------------------------------------

def _keyword(name: str) -> str | None:
    """A query parameter as an attribute keyword: a keyword, or a tag such as 00100020."""
    if name in ATTRIBUTES:
        return name
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        from pydicom.datadict import keyword_for_tag
        return keyword_for_tag(int(name, 16)) or None
    return None


def _qido(request: Request, auth, level: str, fixed: dict[str, str]):
    params = request.query_params
    keys: dict[str, str] = {}
    for name, value in params.multi_items():
        if control_characters(value):
            raise Invalid(f"query parameter {name!r} contains a control character")
        if name in _PAGING:
            continue
        keyword = _keyword(name)
        if keyword is None:
            raise Invalid(f"unknown or unsupported query parameter {name!r}")
        keys[keyword] = value
    keys.update(fixed)
    includes: list[str] = list(QIDO_DEFAULTS[level])
    if level == "IMAGE":
        includes += ["StudyInstanceUID", "SeriesInstanceUID"]
    elif level == "SERIES":
        includes += ["StudyInstanceUID"]
    for value in params.getlist("includefield"):
        for name in value.split(","):
            if name.strip() == "all":
                includes += [k for k in ATTRIBUTES if _rank(level_of(k)) <= _rank(level)]
            elif (kw := _keyword(name.strip())) is not None:
                includes.append(kw)
    includes += [k for k in keys if k not in includes]
    limit = min(parse_index(params.get("limit"), "limit", default=_MAX_LIMIT), _MAX_LIMIT)
    offset = parse_index(params.get("offset"), "offset", default=0)
    query = Query(level=level, keys=keys, fuzzy=params.get("fuzzymatching") == "true",
                  limit=limit, offset=offset)
    with work(request, auth) as ctx:
        datasets = imaging.find_datasets(ctx, query, dict.fromkeys(includes))
    body = []
    for ds in datasets:
        del ds.QueryRetrieveLevel
        del ds.SpecificCharacterSet
        body.append(ds.to_json_dict())
    return _cors(request, JSONResponse(body, media_type=DICOM_JSON))


def _rank(level: str) -> int:
    return ("PATIENT", "STUDY", "SERIES", "IMAGE").index(level)


@router.get("/studies")
def search_studies(request: Request, auth: AuthDep):
    return _qido(request, auth, "STUDY", {})


@router.get("/series")
def search_all_series(request: Request, auth: AuthDep):
    return _qido(request, auth, "SERIES", {})


@router.get("/instances")
def search_all_instances(request: Request, auth: AuthDep):
    return _qido(request, auth, "IMAGE", {})


@router.get("/studies/{study}/series")
def search_series(study: str, request: Request, auth: AuthDep):
    return _qido(request, auth, "SERIES", {"StudyInstanceUID": study})


@router.get("/studies/{study}/instances")
def search_study_instances(study: str, request: Request, auth: AuthDep):
    return _qido(request, auth, "IMAGE", {"StudyInstanceUID": study})


@router.get("/studies/{study}/series/{series}/instances")
def search_instances(study: str, series: str, request: Request, auth: AuthDep):
    return _qido(request, auth, "IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": series})


# -- WADO-RS --------------------------------------------------------------------------------

def _items(request: Request, auth, study: str, series: str | None = None, sop: str | None = None):
    keys = {"StudyInstanceUID": study}
    if series:
        keys["SeriesInstanceUID"] = series
    if sop:
        keys["SOPInstanceUID"] = sop
    with work(request, auth) as ctx:
        items = imaging.retrieve(ctx, Query(level="IMAGE", keys=keys))
    if not items:
        raise NotFound("no such instances")
    return items


def _not_acceptable(request: Request, exc: NotAcceptable) -> Response:
    return _cors(request, JSONResponse({"detail": str(exc)}, status_code=406))


def _instances(request: Request, auth, study, series=None, sop=None):
    """The instances in the transfer syntax asked for (PS3.18 8.7.3: the Accept's
    transfer-syntax; `*` as stored; Explicit VR Little Endian by default), or 406."""
    try:
        syntaxes = accept.instance_syntaxes(request.headers.get("accept", ""))
        items = _items(request, auth, study, series, sop)
        targets = [represent.instance_target(item.transfer_syntax, syntaxes) for item in items]
        blobs = kura_of(request).blobs
        if len(items) == 1:  # converted before answering: a failure is still a 406
            parts: Iterable = [_instance_part(items[0].read(blobs), targets[0])]
        else:  # streamed; every accepted transfer syntax decodes, only a damaged instance fails here
            parts = (_instance_part(item.read(blobs), target) for item, target in zip(items, targets))
    except NotAcceptable as exc:
        return _not_acceptable(request, exc)
    chunks, content_type = multipart.build(parts, DICOM_PART)
    return _cors(request, StreamingResponse(chunks, media_type=content_type))


def _instance_part(data: bytes, target: str) -> tuple[bytes, str]:
    return represent.instance_in(data, target), f"{DICOM_PART}; transfer-syntax={target}"


@router.get("/studies/{study}")
def retrieve_study(study: str, request: Request, auth: AuthDep):
    return _instances(request, auth, study)


@router.get("/studies/{study}/series/{series}")
def retrieve_series(study: str, series: str, request: Request, auth: AuthDep):
    return _instances(request, auth, study, series)


@router.get("/studies/{study}/series/{series}/instances/{sop}")
def retrieve_instance(study: str, series: str, sop: str, request: Request, auth: AuthDep):
    return _instances(request, auth, study, series, sop)


def _metadata(request: Request, auth, study, series=None, sop=None):
    items = _items(request, auth, study, series, sop)
    blobs = kura_of(request).blobs
    base = _base(request)
    body = []
    for item in items:
        ds = read_dataset(item.read(blobs))
        prefix = f"{base}/studies/{item.study_uid}/series/{item.series_uid}/instances/{item.sop_uid}"
        body.append(ds.to_json_dict(
            bulk_data_threshold=1024,
            bulk_data_element_handler=lambda elem, p=prefix: f"{p}/bulkdata/{elem.tag:08X}"))  # type: ignore[misc]
    return _cors(request, JSONResponse(body, media_type=DICOM_JSON))


@router.get("/studies/{study}/metadata")
def study_metadata(study: str, request: Request, auth: AuthDep):
    return _metadata(request, auth, study)


@router.get("/studies/{study}/series/{series}/metadata")
def series_metadata(study: str, series: str, request: Request, auth: AuthDep):
    return _metadata(request, auth, study, series)


@router.get("/studies/{study}/series/{series}/instances/{sop}/metadata")
def instance_metadata(study: str, series: str, sop: str, request: Request, auth: AuthDep):
    return _metadata(request, auth, study, series, sop)


@router.get("/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}")
def bulkdata(study: str, series: str, sop: str, tag: str, request: Request, auth: AuthDep):
    """One bulk data element. Pixel data as frames are (uncompressed by default, PS3.18
    8.7.3.5.3); any other element as its value in little endian."""
    (item,) = _items(request, auth, study, series, sop)
    try:
        number = int(tag, 16)
    except ValueError:
        raise NotFound(f"no bulk data {tag}") from None
    if number == 0x7FE00010:
        return _pixels(request, item, None)
    data = item.read(kura_of(request).blobs)
    try:
        if transfer_syntax_of(data) == ExplicitVRBigEndian:
            data = transcode(data, ExplicitVRLittleEndian)
        elem = read_dataset(data)[number]
    except (KeyError, CannotConvert):
        raise NotFound(f"no bulk data {tag}") from None
    value = elem.value if isinstance(elem.value, bytes) else bytes(elem.value or b"")
    chunks, content_type = multipart.build([value], accept.OCTET)
    return _cors(request, StreamingResponse(chunks, media_type=content_type))


@router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frame_list}")
def retrieve_frames(study: str, series: str, sop: str, frame_list: str, request: Request, auth: AuthDep):
    """Retrieve Frames (PS3.18 10.4.1.1.3: a comma-separated list, from 1; what OHIF and
    cornerstone load images with), one part each."""
    try:
        numbers = [int(n) for n in frame_list.split(",")]
    except ValueError:
        raise Invalid("frames are a comma-separated list of numbers from 1") from None
    if not numbers or min(numbers) < 1 or len(numbers) > 10_000:
        raise Invalid("frames are a comma-separated list of numbers from 1")
    (item,) = _items(request, auth, study, series, sop)
    return _pixels(request, item, numbers)


def _pixels(request: Request, item, numbers: list[int] | None):
    """Pixel data as asked for: each frame its own part in a compressed media type, or
    uncompressed (application/octet-stream: every frame, or all in one part for bulk data)."""
    try:
        wants = accept.pixel_wants(request.headers.get("accept", ""))
        media, target = represent.pixel_target(item.transfer_syntax, wants)
        frames = represent.pixel_frames(item.read(kura_of(request).blobs), target)
    except NotAcceptable as exc:
        return _not_acceptable(request, exc)
    if numbers is not None:
        if max(numbers) > len(frames):
            raise Invalid(f"frame {max(numbers)} is outside 1..{len(frames)}")
        frames = [frames[n - 1] for n in numbers]
    elif media == accept.OCTET:
        frames = [b"".join(frames)]
    part_type = f"{media}; transfer-syntax={target}"
    chunks, content_type = multipart.build([(f, part_type) for f in frames], media)
    return _cors(request, StreamingResponse(chunks, media_type=content_type))


@router.get("/studies/{study}/series/{series}/instances/{sop}/rendered")
def rendered(study: str, series: str, sop: str, request: Request, auth: AuthDep,
             window: Annotated[str | None, Q()] = None, quality: Annotated[int, Q(ge=1, le=100)] = 90):
    return _rendered(request, auth, study, series, sop, 1, window, quality)


@router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frame}/rendered")
def rendered_frame(study: str, series: str, sop: str, frame: int, request: Request, auth: AuthDep,
                   window: Annotated[str | None, Q()] = None, quality: Annotated[int, Q(ge=1, le=100)] = 90):
    return _rendered(request, auth, study, series, sop, frame, window, quality)


def _rendered(request, auth, study, series, sop, frame, window, quality):
    media = "image/jpeg" if "image/jpeg" in request.headers.get("accept", "") else "image/png"
    center = width = None
    if window:  # PS3.18 §8.3.5.1.4: window=center,width,function
        try:
            center, width = (float(v) for v in window.split(",")[:2])
        except ValueError:
            raise Invalid("window is center,width[,linear]") from None
    (item,) = _items(request, auth, study, series, sop)
    data = render(item.read(kura_of(request).blobs), frame=frame, center=center, width=width,
                  media_type=media, quality=quality)
    return _cors(request, Response(data, media_type=media))


# -- STOW-RS --------------------------------------------------------------------------------

def _stow(request: Request, auth, body: bytes, study: str | None):
    media, params = multipart.parse_content_type(request.headers.get("content-type", ""))
    if media != "multipart/related" or params.get("type", "application/dicom").lower() != "application/dicom":
        return _cors(request, JSONResponse({"detail": "STOW-RS takes multipart/related; "
                                            "type=\"application/dicom\""}, status_code=415))
    parts = multipart.split(body, params.get("boundary", ""))
    ingest = kura_of(request).ingest
    sender = Sender(actor=auth.subject, origin=origin_of(request), request_id=request.state.request_id,
                    break_glass_reason=break_glass_of(request))
    # Every part is submitted before any is waited for: a request's instances are stored in
    # one group commit (with those of other requests and associations arriving meanwhile).
    submitted: list[Ticket | KuraError] = []
    for headers, content in parts:
        part_type = multipart.parse_content_type(headers.get("content-type", "application/dicom"))[0]
        try:
            if part_type != "application/dicom":
                raise Invalid(f"part of type {part_type} is not application/dicom")
            prepared = imaging.prepare(content)
            if study and prepared.info.study_uid != study:
                raise Invalid("instance belongs to another study")
            submitted.append(ingest.submit(sender, prepared))
        except KuraError as exc:
            submitted.append(exc)
    referenced, failed = [], []
    for ticket in submitted:
        item = {}
        try:
            if isinstance(ticket, KuraError):
                raise ticket
            result = ingest.wait(ticket)
            item = {"00081150": {"vr": "UI", "Value": [result.sop_class_uid]},
                    "00081155": {"vr": "UI", "Value": [result.sop_uid]}}
            if result.refused:
                failed.append({**item, "00081197": {"vr": "US", "Value": [0xC001]}})
            else:
                referenced.append({**item, "00081190": {"vr": "UR", "Value": [
                    f"{_base(request)}/studies/{result.study_uid}"]}})
        except KuraError as exc:
            code = 0xA900 if isinstance(exc, Invalid) else 0x0124 if isinstance(exc, Denied) else 0xC000
            failed.append({**item, "00081197": {"vr": "US", "Value": [code]}})
    response = {}
    if referenced:
        response["00081199"] = {"vr": "SQ", "Value": referenced}
    if failed:
        response["00081198"] = {"vr": "SQ", "Value": failed}
    status = 200 if not failed else 409 if not referenced else 202
    return _cors(request, JSONResponse(response, status_code=status, media_type=DICOM_JSON))


@router.post("/studies")
async def store_studies(request: Request, auth: AuthDep):
    # The body is read on the event loop; the store waits for its group commit in a worker
    # thread, so requests arriving together are stored in one group and nothing else waits.
    return await run_in_threadpool(_stow, request, auth, await request.body(), None)


@router.post("/studies/{study}")
async def store_study(study: str, request: Request, auth: AuthDep):
    return await run_in_threadpool(_stow, request, auth, await request.body(), study)
