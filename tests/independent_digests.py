"""CloudTrail digest chains built and checked without traillake's code, with Python's
`cryptography` package, following the AWS docs' custom-validation page.

    python3 independent_digests.py write DIR   # a trail with a 3-digest chain, .sig sidecars,
                                               # keys.json in the list-public-keys shape
    python3 independent_digests.py verify DIR KEYS.json   # checks a chain traillake wrote

The fingerprint written is AWS-style (an opaque hex string chosen here, not derived from the
key), so a validator must match keys by the fingerprint it is given.
"""
import base64
import gzip
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "123456789012"
REGION = "eu-central-1"
BUCKET = "independent-bucket"
FINGERPRINT = "0123456789abcdef0123456789abcdef"


def signing_string(d, content_hash, previous_signature):
    return "\n".join([
        d["digestEndTime"],
        d["digestS3Bucket"] + "/" + d["digestS3Object"],
        content_hash,
        previous_signature if previous_signature is not None else "null",
    ]).encode()


def put(root, key, data):
    path = os.path.join(root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(gzip.compress(data))
    return path


def write(root):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    with open(os.path.join(root, "keys.json"), "w") as f:
        json.dump({"PublicKeyList": [{
            "Value": base64.b64encode(der).decode(),
            "ValidityStartTime": "2024-01-01T00:00:00+00:00",
            "ValidityEndTime": "2030-01-01T00:00:00+00:00",
            "Fingerprint": FINGERPRINT,
        }]}, f)
    previous = None  # (key, content hash, signature)
    for hour in range(3):
        start = "2025-06-01T%02d:00:00Z" % hour
        end = "2025-06-01T%02d:00:00Z" % (hour + 1)
        log_files = []
        if hour != 1:  # an hour with no activity still gets a digest
            log_key = "AWSLogs/%s/CloudTrail/%s/2025/06/01/%s_CloudTrail_%s_20250601T%02d05Z_indep%011d.json.gz" % (
                ACCOUNT, REGION, ACCOUNT, REGION, hour, hour)
            body = json.dumps({"Records": [{
                "eventVersion": "1.11", "eventTime": "2025-06-01T%02d:01:00Z" % hour,
                "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": REGION,
                "eventID": "00000000-0000-0000-0000-%012d" % hour, "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT, "userIdentity": {"type": "Root", "accountId": ACCOUNT},
            }]}).encode()
            put(root, log_key, body)
            log_files.append({"s3Bucket": BUCKET, "s3Object": log_key,
                              "hashValue": hashlib.sha256(body).hexdigest(), "hashAlgorithm": "SHA-256",
                              "newestEventTime": "2025-06-01T%02d:01:00Z" % hour,
                              "oldestEventTime": "2025-06-01T%02d:01:00Z" % hour})
        digest_key = "AWSLogs/%s/CloudTrail-Digest/%s/2025/06/01/%s_CloudTrail-Digest_%s_indep_%s_20250601T%02d0000Z.json.gz" % (
            ACCOUNT, REGION, ACCOUNT, REGION, REGION, hour + 1)
        d = {
            "awsAccountId": ACCOUNT, "digestStartTime": start, "digestEndTime": end,
            "digestS3Bucket": BUCKET, "digestS3Object": digest_key,
            "digestPublicKeyFingerprint": FINGERPRINT, "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": None, "oldestEventTime": None,
            "previousDigestS3Bucket": BUCKET if previous else None,
            "previousDigestS3Object": previous[0] if previous else None,
            "previousDigestHashValue": previous[1] if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous[2] if previous else None,
            "logFiles": log_files,
        }
        content = json.dumps(d, indent=2).encode()
        content_hash = hashlib.sha256(content).hexdigest()
        signature = key.sign(signing_string(d, content_hash, previous[2] if previous else None),
                             padding.PKCS1v15(), hashes.SHA256()).hex()
        path = put(root, digest_key, content)
        with open(path + ".sig", "w") as f:
            f.write(signature + "\n")
        previous = (digest_key, content_hash, signature)


def verify(root, keys_file):
    with open(keys_file) as f:
        keys = {k["Fingerprint"]: load_pkcs1(base64.b64decode(k["Value"])) for k in json.load(f)["PublicKeyList"]}
    digests = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if "_CloudTrail-Digest_" in n and n.endswith(".json.gz"):
                p = os.path.join(dirpath, n)
                content = gzip.open(p).read()
                with open(p + ".sig") as f:
                    sig = f.read().strip()
                d = json.loads(content)
                digests[d["digestS3Object"]] = (d, hashlib.sha256(content).hexdigest(), sig, p)
    checked_logs = 0
    for key, (d, content_hash, sig, path) in digests.items():
        assert path.replace(os.sep, "/").endswith(key), (path, key)
        public = keys[d["digestPublicKeyFingerprint"]]
        public.verify(bytes.fromhex(sig), signing_string(d, content_hash, d["previousDigestSignature"]),
                      padding.PKCS1v15(), hashes.SHA256())
        if d["previousDigestS3Object"]:
            prev = digests[d["previousDigestS3Object"]]
            assert prev[1] == d["previousDigestHashValue"], "previous hash"
            assert prev[2] == d["previousDigestSignature"], "previous signature"
            assert prev[0]["digestEndTime"] == d["digestStartTime"], "hourly chain"
        for lf in d["logFiles"]:
            body = gzip.open(os.path.join(root, lf["s3Object"])).read()
            assert hashlib.sha256(body).hexdigest() == lf["hashValue"], lf["s3Object"]
            checked_logs += 1
    print(json.dumps({"digests": len(digests), "logFiles": checked_logs}))


def load_pkcs1(der):
    # DER PKCS#1 RSAPublicKey, as ListPublicKeys returns it.
    return serialization.load_der_public_key(pkcs1_to_spki(der))


def pkcs1_to_spki(der):
    # SubjectPublicKeyInfo = SEQUENCE { AlgorithmIdentifier rsaEncryption, BIT STRING pkcs1 }
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = b"\x03" + der_length(len(der) + 1) + b"\x00" + der
    body = algorithm + bit_string
    return b"\x30" + der_length(len(body)) + body


def der_length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        verify(sys.argv[2], sys.argv[3])
