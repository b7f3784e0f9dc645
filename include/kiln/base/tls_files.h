// TlsFiles: the PEM files a server's TLS is made of — one description shared by the HTTP
// (http/server.h) and gRPC (rpc/server.h) front ends of `kiln serve`.
#pragma once

#include <string>

namespace kiln {

struct TlsFiles {
  std::string cert;       // the certificate chain, leaf first
  std::string key;        // its private key
  std::string client_ca;  // "": no client certificates; else they are required and checked
  bool enabled() const { return !cert.empty(); }
};

}  // namespace kiln
