/* pam_oauth2: JWS signature verification with the configured algorithm. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include "oa2.h"

static const char *md_name(enum oa2_alg alg)
{
	switch (alg) {
	case OA2_RS256: case OA2_PS256: case OA2_ES256:
		return "SHA256";
	case OA2_RS384: case OA2_PS384: case OA2_ES384:
		return "SHA384";
	default:
		return "SHA512";
	}
}

/* Raw r||s (RFC 7518 §3.4) of exactly 2*coord bytes -> DER ECDSA-Sig-Value. */
static int ec_raw_to_der(enum oa2_alg alg, const unsigned char *sig,
			 size_t siglen, unsigned char **der, int *derlen)
{
	size_t cl = alg == OA2_ES256 ? 32 : alg == OA2_ES384 ? 48 : 66;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int rc = OA2_EINVAL;

	if (siglen != 2 * cl)
		return OA2_EINVAL;
	r = BN_bin2bn(sig, (int)cl, NULL);
	s = BN_bin2bn(sig + cl, (int)cl, NULL);
	es = ECDSA_SIG_new();
	if (r == NULL || s == NULL || es == NULL) {
		rc = OA2_ENOMEM;
		goto out;
	}
	if (BN_is_zero(r) || BN_is_zero(s))
		goto out;
	if (!ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;
	*der = NULL;
	*derlen = i2d_ECDSA_SIG(es, der);
	if (*derlen <= 0)
		goto out;
	rc = OA2_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

/* A digest-verify context for pkey and the configured alg (PSS: salt = hash). */
int oa2_verify_init(EVP_PKEY *pkey, enum oa2_alg alg, EVP_MD_CTX **out)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc = OA2_EINVAL;

	*out = NULL;
	if (!EVP_PKEY_is_a(pkey, alg >= OA2_ES256 ? "EC" : "RSA"))
		return OA2_EINVAL;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return OA2_ENOMEM;
	if (EVP_DigestVerifyInit_ex(md, &pctx, md_name(alg), NULL, NULL, pkey,
				    NULL) <= 0)
		goto out;
	if (alg >= OA2_PS256 && alg <= OA2_PS512 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md_name(alg), NULL) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto out;
	*out = md;
	md = NULL;
	rc = OA2_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

/* Checks the exact signature size, then verifies with a fresh context md. */
int oa2_verify_with(EVP_MD_CTX *md, EVP_PKEY *pkey, enum oa2_alg alg,
		    const unsigned char *msg, size_t msglen,
		    const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	const unsigned char *vsig = sig;
	size_t vlen = siglen;
	int derlen = 0, rc;

	if (alg >= OA2_ES256) {
		rc = ec_raw_to_der(alg, sig, siglen, &der, &derlen);
		if (rc != OA2_OK)
			return rc;
		vsig = der;
		vlen = (size_t)derlen;
	} else if (siglen != (size_t)EVP_PKEY_get_size(pkey)) {
		return OA2_EINVAL;
	}
	rc = EVP_DigestVerify(md, vsig, vlen, msg, msglen) == 1 ? OA2_OK :
								 OA2_EINVAL;
	OPENSSL_free(der);
	return rc;
}

int oa2_verify(EVP_PKEY *pkey, enum oa2_alg alg, const unsigned char *msg,
	       size_t msglen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = NULL;
	int rc = oa2_verify_init(pkey, alg, &md);

	if (rc != OA2_OK)
		return rc;
	rc = oa2_verify_with(md, pkey, alg, msg, msglen, sig, siglen);
	EVP_MD_CTX_free(md);
	return rc;
}
