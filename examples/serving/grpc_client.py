#!/usr/bin/python3
"""A gRPC client for `kiln serve` written with Python's grpcio (Debian python3-grpcio and
python3-protobuf), the way a Python service would call kiln's inference.GRPCInferenceService.

  grpc_client.py HOST:PORT [--ca CA.crt] live | ready | server
  grpc_client.py HOST:PORT [--ca CA.crt] metadata MODEL[@VERSION]
  grpc_client.py HOST:PORT [--ca CA.crt] infer MODEL[@VERSION] REQUEST.json [--raw]

REQUEST.json is a V2 REST request body ({"inputs": [{"name", "shape", "datatype", "data"}]});
it is sent as typed contents, or with --raw as raw_input_contents. The answer is printed as
the V2 REST response JSON would be. A server with `auth: required` gets the token in $KILN_TOKEN
(as `authorization: Bearer ...` metadata); with --ca the call goes over a secure channel (TLS)
that trusts that CA. The message classes are generated from kiln's src/rpc/inference.proto with protoc.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import json_format

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "src", "rpc")
SERVICE = "/inference.GRPCInferenceService/"
TYPED = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
         "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
         "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
         "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
RAW = {"BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B",
       "UINT16": "H", "UINT32": "I", "UINT64": "Q", "FP32": "f", "FP64": "d"}


def messages():
    out = tempfile.mkdtemp(prefix="kiln-grpc-")
    subprocess.run(["protoc", f"--python_out={out}", "-I", PROTO_DIR,
                    os.path.join(PROTO_DIR, "inference.proto")], check=True)
    sys.path.insert(0, out)
    import inference_pb2  # noqa: E402 (generated above)
    return inference_pb2


def flatten(data):
    if isinstance(data, list):
        return [x for item in data for x in flatten(item)]
    return [data]


def infer_request(pb, model, body, raw):
    name, _, version = model.partition("@")
    req = pb.ModelInferRequest(model_name=name, model_version=version, id=body.get("id", ""))
    for k, v in body.get("parameters", {}).items():
        p = req.parameters[k]
        if isinstance(v, bool):
            p.bool_param = v
        elif isinstance(v, int):
            p.int64_param = v
        elif isinstance(v, float):
            p.double_param = v
        else:
            p.string_param = str(v)
    for t in body["inputs"]:
        tensor = req.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        data = flatten(t["data"])
        if t["datatype"] == "BYTES":
            data = [x.encode() if isinstance(x, str) else x for x in data]
        if raw:
            if t["datatype"] == "BYTES":
                blob = b"".join(struct.pack("<I", len(x)) + x for x in data)
            else:
                blob = struct.pack("<%d%s" % (len(data), RAW[t["datatype"]]), *data)
            req.raw_input_contents.append(blob)
        else:
            getattr(tensor.contents, TYPED[t["datatype"]]).extend(data)
    for o in body.get("outputs", []):
        req.outputs.add(name=o["name"])
    return req


def response_json(resp):
    """A ModelInferResponse as the V2 REST response JSON, from typed or raw contents."""
    out = {"model_name": resp.model_name, "model_version": resp.model_version, "id": resp.id,
           "outputs": []}
    raw = list(resp.raw_output_contents)
    for i, t in enumerate(resp.outputs):
        if raw:
            blob = raw[i]
            if t.datatype == "BYTES":
                data, at = [], 0
                while at < len(blob):
                    (n,) = struct.unpack_from("<I", blob, at)
                    data.append(blob[at + 4:at + 4 + n].decode())
                    at += 4 + n
            else:
                code = RAW[t.datatype]
                data = list(struct.unpack("<%d%s" % (len(blob) // struct.calcsize(code), code),
                                          blob))
        else:
            data = list(getattr(t.contents, TYPED[t.datatype]))
            if t.datatype == "BYTES":
                data = [x.decode() for x in data]
        out["outputs"].append({"name": t.name, "datatype": t.datatype, "shape": list(t.shape),
                               "data": data})
    return out


def main(argv):
    ca = None  # --ca FILE: a server with --tls-cert, whose certificate FILE's CA signed
    if "--ca" in argv[:-1]:
        at = argv.index("--ca")
        ca = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    if len(argv) < 3:
        sys.exit(__doc__)
    target, verb = argv[1], argv[2]
    pb = messages()
    if ca:
        with open(ca, "rb") as f:
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(target)

    def call(method, request, response_type):
        rpc = channel.unary_unary(SERVICE + method, request_serializer=request.SerializeToString,
                                  response_deserializer=response_type.FromString)
        token = os.environ.get("KILN_TOKEN")
        metadata = [("authorization", "Bearer " + token)] if token else None
        return rpc(request, timeout=30, metadata=metadata)

    try:
        if verb == "live":
            resp = call("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse)
        elif verb == "ready":
            resp = call("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse)
        elif verb == "server":
            resp = call("ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse)
        elif verb == "metadata" and len(argv) == 4:
            name, _, version = argv[3].partition("@")
            resp = call("ModelMetadata", pb.ModelMetadataRequest(name=name, version=version),
                        pb.ModelMetadataResponse)
        elif verb == "infer" and len(argv) in (5, 6):
            raw = argv[5:] == ["--raw"]
            with open(argv[4]) as f:
                body = json.load(f)
            resp = call("ModelInfer", infer_request(pb, argv[3], body, raw), pb.ModelInferResponse)
            print(json.dumps(response_json(resp)))
            return 0
        else:
            sys.exit(__doc__)
    except grpc.RpcError as e:
        print(f"{e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    out = json_format.MessageToDict(resp, preserving_proto_field_name=True,
                                    including_default_value_fields=True)
    for tensor in out.get("inputs", []) + out.get("outputs", []):
        tensor["shape"] = [int(d) for d in tensor.get("shape", [])]  # int64s come as text
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
