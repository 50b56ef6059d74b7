// Certificates for TLS tests, made once per test process by the openssl
// CLI (ECDSA P-256, valid two days) in a private directory: a CA, a server
// certificate it signed for localhost and 127.0.0.1, an unrelated CA, a key
// matching neither certificate, and a file that is not PEM.
#ifndef ACTNET_TESTS_TESTING_TLS_CERTS_H_
#define ACTNET_TESTS_TESTING_TLS_CERTS_H_

#include <string>

namespace actnet::testutil {

struct TestCerts {
  std::string dir;
  std::string ca;         // the CA that signed `cert`
  std::string cert;       // server certificate: localhost, 127.0.0.1
  std::string key;        // its key
  std::string other_ca;   // a CA that signed nothing here
  std::string other_key;  // a key matching no certificate here
  std::string not_pem;    // a text file
};

// Fails the current doctest case if openssl cannot make them.
const TestCerts& Certificates();

}  // namespace actnet::testutil

#endif  // ACTNET_TESTS_TESTING_TLS_CERTS_H_
