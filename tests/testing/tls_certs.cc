#include "tests/testing/tls_certs.h"

#include <cstdlib>
#include <fstream>

#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::testutil {

const TestCerts& Certificates() {
  static TempDir* const dir = new TempDir;  // lives as long as the process
  static const TestCerts certs = [] {
    TestCerts c;
    c.dir = dir->path();
    std::ofstream(dir->File("make.sh"))
        << "set -e\ncd '" << c.dir << "'\n"
        << "openssl ecparam -name prime256v1 -genkey -noout -out ca.key\n"
        << "openssl req -x509 -new -key ca.key -days 2 -subj /CN=actnet-test-ca"
           " -out ca.pem\n"
        << "openssl ecparam -name prime256v1 -genkey -noout -out server.key\n"
        << "openssl req -new -key server.key -subj /CN=localhost -out server.csr\n"
        << "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext\n"
        << "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key"
           " -CAcreateserial -days 2 -extfile san.ext -out server.pem\n"
        << "openssl ecparam -name prime256v1 -genkey -noout -out other.key\n"
        << "openssl req -x509 -new -key other.key -days 2 -subj /CN=other-ca"
           " -out other.pem\n"
        << "echo 'not a certificate' > not.pem\n";
    const std::string cmd =
        "sh '" + dir->File("make.sh") + "' > '" + dir->File("make.log") + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      FAIL("making test certificates failed; see ", dir->File("make.log"));
    }
    c.ca = dir->File("ca.pem");
    c.cert = dir->File("server.pem");
    c.key = dir->File("server.key");
    c.other_ca = dir->File("other.pem");
    c.other_key = dir->File("other.key");
    c.not_pem = dir->File("not.pem");
    return c;
  }();
  return certs;
}

}  // namespace actnet::testutil
