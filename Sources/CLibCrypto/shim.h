#ifndef CLIBCRYPTO_SHIM_H
#define CLIBCRYPTO_SHIM_H
/* Only the EVP digest API: SHA-256 checksums for the old-data archive manifest. */
#include <openssl/evp.h>
#endif
