# Test certificates, made with openssl for one run: a CA of the suite's
# own and the keys and certificates it signs. CERT_KEY chooses the keys:
# rsa (RSA 2048 bits, the default) or ec (P-256). openssl's chatter goes
# to stdout and stderr: the caller sends it where it wants.

cert_newkey() {
	case ${CERT_KEY:-rsa} in
	ec) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes" ;;
	*) echo "-newkey rsa:2048 -nodes" ;;
	esac
}

# cert_ca CN CA: a self-signed CA certificate for subject CN, CA.pem, and
# its key, CA.key (mode 600).
cert_ca() {
	# shellcheck disable=SC2046
	openssl req -x509 $(cert_newkey) -subj "/CN=$1" -days 2 \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign \
	    -keyout "$2.key" -out "$2.pem" && chmod 600 "$2.key"
}

# cert_sign CN CA KEY CERT [EXTENSION...]: a new key (KEY, mode 600) and a
# certificate for subject CN (CERT) signed by CA (CA.pem, CA.key), with
# those extension lines (subjectAltName=..., extendedKeyUsage=...); the
# request and the extensions are left beside CERT (.csr, .ext).
cert_sign() {
	local cn=$1 ca=$2 key=$3 cert=$4 ext=()
	shift 4
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"${cert%.pem}.ext" || return 1
		ext=(-extfile "${cert%.pem}.ext")
	fi
	# shellcheck disable=SC2046
	openssl req $(cert_newkey) -subj "/CN=$cn" -keyout "$key" \
	    -out "${cert%.pem}.csr" &&
		chmod 600 "$key" &&
		openssl x509 -req -in "${cert%.pem}.csr" -CA "$ca.pem" \
		    -CAkey "$ca.key" -CAcreateserial -days 2 "${ext[@]}" \
		    -out "$cert"
}
