/* pam_oauth2: JWKS checks, key selection and JWK import (OpenSSL 3 EVP). */
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "oa2.h"

static int is_ec(enum oa2_alg alg)
{
	return alg >= OA2_ES256;
}

static const char *jwk_crv(enum oa2_alg alg)
{
	return alg == OA2_ES256 ? "P-256" : alg == OA2_ES384 ? "P-384" : "P-521";
}

static const char *group_name(enum oa2_alg alg)
{
	return alg == OA2_ES256 ? "prime256v1" :
	       alg == OA2_ES384 ? "secp384r1" : "secp521r1";
}

static size_t coord_len(enum oa2_alg alg)
{
	return alg == OA2_ES256 ? 32 : alg == OA2_ES384 ? 48 : 66;
}

static int str_eq(json_t *j, const char *s)
{
	return json_is_string(j) && json_string_length(j) == strlen(s) &&
	       memcmp(json_string_value(j), s, strlen(s)) == 0;
}

/* The JWKS document: {"keys":[objects]}, bounded, no private members. */
int oa2_jwks_check(json_t *jwks)
{
	static const char *const priv[] = { "d", "p", "q", "k", "dp", "dq",
					    "qi", "oth" };
	json_t *keys = json_object_get(jwks, "keys");
	size_t i;
	json_t *k;

	if (!json_is_object(jwks) || !json_is_array(keys) ||
	    json_array_size(keys) == 0 || json_array_size(keys) > OA2_MAX_KEYS)
		return OA2_EINVAL;
	json_array_foreach(keys, i, k) {
		if (!json_is_object(k))
			return OA2_EINVAL;
		for (size_t p = 0; p < sizeof(priv) / sizeof(priv[0]); p++)
			if (json_object_get(k, priv[p]) != NULL)
				return OA2_EINVAL;
	}
	return OA2_OK;
}

static int eligible(json_t *k, enum oa2_alg alg)
{
	json_t *use = json_object_get(k, "use");
	json_t *ops = json_object_get(k, "key_ops");
	json_t *jalg = json_object_get(k, "alg");

	if (!str_eq(json_object_get(k, "kty"), is_ec(alg) ? "EC" : "RSA"))
		return 0;
	if (is_ec(alg) && !str_eq(json_object_get(k, "crv"), jwk_crv(alg)))
		return 0;
	if (use != NULL && !str_eq(use, "sig"))
		return 0;
	if (ops != NULL) {
		size_t i;
		json_t *o;
		int ok = 0;

		if (!json_is_array(ops))
			return 0;
		json_array_foreach(ops, i, o)
			if (str_eq(o, "verify"))
				ok = 1;
		if (!ok)
			return 0;
	}
	if (jalg != NULL && !str_eq(jalg, oa2_alg_name(alg)))
		return 0;
	return 1;
}

int oa2_jwks_select(json_t *jwks, enum oa2_alg alg, const char *kid,
		    size_t kidlen, json_t **out)
{
	json_t *keys = json_object_get(jwks, "keys");
	json_t *k, *found = NULL;
	size_t i, n = 0;

	*out = NULL;
	if (oa2_jwks_check(jwks) != OA2_OK)
		return OA2_EINVAL;
	json_array_foreach(keys, i, k) {
		if (kid != NULL) {
			json_t *jk = json_object_get(k, "kid");
			if (!json_is_string(jk) || json_string_length(jk) != kidlen ||
			    memcmp(json_string_value(jk), kid, kidlen) != 0)
				continue;
		}
		if (!eligible(k, alg))
			continue;
		found = k;
		n++;
	}
	if (n == 0)
		return OA2_ENOKEY;
	if (n > 1)
		return OA2_EAMBIG;
	*out = found;
	return OA2_OK;
}

static int member(json_t *k, const char *name, unsigned char **buf, size_t *len)
{
	json_t *v = json_object_get(k, name);

	if (!json_is_string(v))
		return OA2_EINVAL;
	return oa2_b64url_decode(json_string_value(v), json_string_length(v),
				 buf, len);
}

static int from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	int rc = OA2_EINVAL;

	if (params == NULL)
		return OA2_ENOMEM;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	/*
	 * EC: the point must be on the named curve (quick check; the curves
	 * used have cofactor 1). RSA: size and exponent are checked by the
	 * caller; OpenSSL's full SP 800-56B public check runs a primality
	 * test on n that costs more than the signature verification itself.
	 */
	if (strcmp(type, "EC") != 0) {
		rc = OA2_OK;
		goto out;
	}
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
	if (chk == NULL || EVP_PKEY_public_check_quick(chk) <= 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
		goto out;
	}
	rc = OA2_OK;
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

static int import_rsa(json_t *k, EVP_PKEY **out, const char **reason)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = OA2_EINVAL, bits;

	*reason = "bad RSA key";
	if (member(k, "n", &n, &nlen) != OA2_OK ||
	    member(k, "e", &e, &elen) != OA2_OK)
		goto out;
	if (nlen == 0 || n[0] == 0 || elen == 0 || elen > 4 || e[0] == 0 ||
	    (e[elen - 1] & 1) == 0 || (elen == 1 && e[0] < 3)) {
		*reason = "RSA key with bad modulus or exponent";
		goto out;
	}
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL) {
		rc = OA2_ENOMEM;
		goto out;
	}
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	rc = from_params("RSA", bld, out);
	if (rc != OA2_OK)
		goto out;
	bits = EVP_PKEY_get_bits(*out);
	if (bits < 2048 || bits > 8192) {
		*reason = "RSA key size outside 2048..8192 bits";
		EVP_PKEY_free(*out);
		*out = NULL;
		rc = OA2_EINVAL;
	}
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return rc;
}

static int import_ec(json_t *k, enum oa2_alg alg, EVP_PKEY **out,
		     const char **reason)
{
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 66];
	size_t xlen = 0, ylen = 0, cl = coord_len(alg);
	OSSL_PARAM_BLD *bld = NULL;
	int rc = OA2_EINVAL;

	*reason = "bad EC key";
	if (member(k, "x", &x, &xlen) != OA2_OK ||
	    member(k, "y", &y, &ylen) != OA2_OK || xlen != cl || ylen != cl)
		goto out;
	pub[0] = 0x04;
	memcpy(pub + 1, x, cl);
	memcpy(pub + 1 + cl, y, cl);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL) {
		rc = OA2_ENOMEM;
		goto out;
	}
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     group_name(alg), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					      1 + 2 * cl))
		goto out;
	rc = from_params("EC", bld, out);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return rc;
}

int oa2_jwk_import(json_t *jwk, enum oa2_alg alg, EVP_PKEY **out,
		   const char **reason)
{
	*out = NULL;
	if (!eligible(jwk, alg)) {
		*reason = "key not eligible for algorithm";
		return OA2_EINVAL;
	}
	return is_ec(alg) ? import_ec(jwk, alg, out, reason) :
			    import_rsa(jwk, out, reason);
}
