"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), an adapter on the
data plane (runtime.dataplane), served by the same process and event loop as HTTP: messages
become InferRequests, admitted (limits, deadline, batching, metrics) like REST ones.

Needs the optional `grpc` extra (grpcio, protobuf); imported only when a gRPC port is set.
Status codes: request errors INVALID_ARGUMENT, unknown model NOT_FOUND, overload
RESOURCE_EXHAUSTED, past the deadline (the server's or the client's, whichever is first)
DEADLINE_EXCEEDED, draining UNAVAILABLE. Messages over TABSHIP_MAX_BODY_BYTES are refused by
grpc itself (RESOURCE_EXHAUSTED) before any of this runs. A message that does not parse (bad
protobuf, a string field that is not UTF-8) is INVALID_ARGUMENT, logged by nobody: the methods
are registered here with a parser that hands the handler a `Malformed` value instead of letting
grpc log a traceback per call and answer UNKNOWN with the exception's class.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError

from tabship.runtime.dataplane import oip_tensors
from tabship.runtime.dataplane.errors import BadRequest, RequestError
from tabship.runtime.dataplane.oip_infer import (
    InferInput,
    InferRequest,
    InferResponse,
    RequestedOutput,
    response_rows,
)
from tabship.runtime.dataplane.plane import DataPlane
from tabship.runtime.grpc.stubs import grpc_predict_v2_pb2 as pb
from tabship.runtime.grpc.stubs import grpc_predict_v2_pb2_grpc as pb_grpc
from tabship.runtime.settings import Settings

log = logging.getLogger("tabship.serve")
SERVICE = "/inference.GRPCInferenceService/"
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_DEADLINE_SLACK_S = 0.01
# which InferTensorContents field holds each datatype's typed elements
_CONTENTS = {
    "FP64": "fp64_contents",
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "INT16": "int_contents",
    "INT8": "int_contents",
    "UINT64": "uint64_contents",
    "UINT32": "uint_contents",
    "UINT16": "uint_contents",
    "UINT8": "uint_contents",
    "BOOL": "bool_contents",
    "BYTES": "bytes_contents",
}

Reply = TypeVar("Reply")
SERVICE_NAME = "inference.GRPCInferenceService"
# method -> (request type, response type)
METHODS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (pb.ServerLiveRequest, pb.ServerLiveResponse),
    "ServerReady": (pb.ServerReadyRequest, pb.ServerReadyResponse),
    "ModelReady": (pb.ModelReadyRequest, pb.ModelReadyResponse),
    "ServerMetadata": (pb.ServerMetadataRequest, pb.ServerMetadataResponse),
    "ModelMetadata": (pb.ModelMetadataRequest, pb.ModelMetadataResponse),
    "ModelInfer": (pb.ModelInferRequest, pb.ModelInferResponse),
}


@dataclass(frozen=True)
class Malformed:
    """What the handler gets for a request message that does not parse."""

    message_type: str


def _parser(message_type: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError:  # not protobuf, or a string field that is not UTF-8
            return Malformed(message_type.DESCRIPTOR.name)

    return parse


def add_servicer(servicer: Any, server: grpc.aio.Server) -> None:
    """The stubs' add_GRPCInferenceServiceServicer_to_server, with requests parsed by
    _parser (a malformed message reaches the handler as Malformed, not as a grpc error)."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=_parser(request),
            response_serializer=response.SerializeToString,
        )
        for name, (request, response) in METHODS.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def status_code(error: RequestError) -> grpc.StatusCode:
    if error.status == 503:
        overloaded = error.code == "overloaded"
        return grpc.StatusCode.RESOURCE_EXHAUSTED if overloaded else grpc.StatusCode.UNAVAILABLE
    return _CODES.get(int(error.status), grpc.StatusCode.INTERNAL)


def infer_request(message: pb.ModelInferRequest) -> InferRequest:
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs"
        )
    inputs: list[InferInput] = []
    for position, tensor in enumerate(message.inputs):
        item = InferInput(tensor.name, tensor.datatype, list(tensor.shape))
        if raw:
            if tensor.HasField("contents"):
                raise BadRequest(
                    f"input {tensor.name[:100]!r}: both contents and raw_input_contents given"
                )
            item.raw = raw[position]
        else:
            field = _CONTENTS.get(tensor.datatype)
            values: list[Any] = list(getattr(tensor.contents, field)) if field else []
            if tensor.datatype == "BYTES":
                values = [oip_tensors.text(tensor.name, v, i) for i, v in enumerate(values)]
            item.data = values
        inputs.append(item)
    outputs = [RequestedOutput(o.name, True) for o in message.outputs] or None
    explain, explain_by = False, None
    if "explain" in message.parameters:
        parameter = message.parameters["explain"]
        if parameter.WhichOneof("parameter_choice") != "bool_param":
            raise BadRequest("request: parameter 'explain' must be a bool_param")
        explain = parameter.bool_param
    if "explain_by" in message.parameters:
        parameter = message.parameters["explain_by"]
        if parameter.WhichOneof("parameter_choice") != "string_param":
            raise BadRequest("request: parameter 'explain_by' must be a string_param")
        explain_by = parameter.string_param
    return InferRequest(
        inputs,
        message.id or None,
        outputs,
        binary_output=True,
        explain=explain,
        explain_by=explain_by,
    )


def infer_response(answer: InferResponse) -> pb.ModelInferResponse:
    reply = pb.ModelInferResponse(
        model_name=answer.model_name, model_version=answer.model_version, id=answer.id or ""
    )
    for output in answer.outputs:
        tensor = reply.outputs.add(name=output.name, datatype=output.datatype, shape=output.shape)
        for key, value in (output.parameters or {}).items():
            tensor.parameters[key].string_param = value
        reply.raw_output_contents.append(oip_tensors.raw_output(output.datatype, output.array))
    return reply


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.metrics = plane.service.metrics

    async def _answer(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        work: Callable[[], Awaitable[Reply]],
        request: Any = None,
    ) -> Reply:
        """Runs one call: RequestError -> its status code, anything else INTERNAL (logged);
        counted in tabship_http_requests_total with route=the gRPC method, method=GRPC. A call
        already over (the client's deadline or cancel won the race) is not answered again."""
        started = time.perf_counter()
        status = 200
        try:
            if isinstance(request, Malformed):
                raise BadRequest(
                    f"malformed {request.message_type}: not a valid protobuf message "
                    "(or a string field that is not UTF-8)"
                )
            return await work()
        except RequestError as error:
            status = int(error.status)
            if context.done():
                # aborting a finished call raises inside grpc (a traceback per call)
                raise asyncio.CancelledError from None
            await context.abort(status_code(error), error.oip_body()["error"])
        except asyncio.CancelledError:
            # gRPC cancels the handler itself when the client's deadline passes; that race
            # against the Service's own timer (set from the same deadline) must still count
            # as a deadline, whichever fires first
            remaining = context.time_remaining()
            if remaining is not None and remaining <= _DEADLINE_SLACK_S:
                status = 504
                self.metrics.reject("deadline")
            else:
                status = 499  # the client cancelled the call
            raise
        except Exception as error:
            if isinstance(error, grpc.aio.AbortError) or context.cancelled():
                raise
            status = 500
            log.error("unexpected error on gRPC %s", method, exc_info=error)
            if context.done():
                raise asyncio.CancelledError from None
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        finally:
            self.metrics.request(SERVICE + method, "GRPC", status, time.perf_counter() - started)
        raise AssertionError("unreachable: context.abort raises")

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        async def work() -> pb.ServerLiveResponse:
            return pb.ServerLiveResponse(live=True)

        return await self._answer("ServerLive", context, work, request)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        async def work() -> pb.ServerReadyResponse:
            return pb.ServerReadyResponse(ready=self.plane.ready)

        return await self._answer("ServerReady", context, work, request)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        async def work() -> pb.ModelReadyResponse:
            ready = self.plane.model_ready(request.name, request.version or None)
            return pb.ModelReadyResponse(ready=ready)

        return await self._answer("ModelReady", context, work, request)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        async def work() -> pb.ServerMetadataResponse:
            return pb.ServerMetadataResponse(**self.plane.server_metadata())

        return await self._answer("ServerMetadata", context, work, request)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        async def work() -> pb.ModelMetadataResponse:
            meta = self.plane.model_metadata(request.name, request.version or None)
            return pb.ModelMetadataResponse(
                name=meta["name"],
                versions=meta["versions"],
                platform=meta["platform"],
                inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["inputs"]],
                outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["outputs"]],
            )

        return await self._answer("ModelMetadata", context, work, request)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        async def work() -> pb.ModelInferResponse:
            plane = self.plane
            plane.check_model(request.model_name, request.model_version or None)
            return await plane.exchange(
                None,  # grpc has parsed the message (within TABSHIP_MAX_BODY_BYTES)
                None,
                lambda _: infer_request(request),
                plane.infer,
                infer_response,
                response_rows,
                timeout_s=context.time_remaining(),
            )

        return await self._answer("ModelInfer", context, work, request)


class GrpcListener:
    """The gRPC server of `tabship serve --grpc-port N`, started and stopped on the HTTP
    server's event loop (runtime.serve)."""

    def __init__(self, settings: Settings, plane: DataPlane, *, shared_port: bool = False) -> None:
        self.settings = settings
        self.plane = plane
        # a worker of `tabship serve --workers N`: the workers listen on the port together
        # (SO_REUSEPORT), which the supervisor holds bound so that no other program can take it
        self.shared_port = shared_port
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Listens on TABSHIP_HOST:grpc_port; RuntimeError when the port cannot be bound."""
        limit = self.settings.max_body_bytes
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                # a port in use is an error, not a shared listener (unless shared with workers)
                ("grpc.so_reuseport", int(self.shared_port)),
            ],
            maximum_concurrent_rpcs=None,
        )
        add_servicer(InferenceServicer(self.plane), server)
        address = f"{self.settings.host}:{self.settings.grpc_port}"
        self.port = server.add_insecure_port(address)
        await server.start()
        self.server = server
        log.info("gRPC (Open Inference Protocol) listening on %s:%s", self.settings.host, self.port)

    async def stop(self, grace_s: float | None) -> None:
        """Refuses new calls, lets running ones finish for up to `grace_s`."""
        if self.server is not None:
            await self.server.stop(grace_s)
            self.server = None
