# Outbound TLS as an app makes it (curl and openssl against an HTTPS endpoint): a TLS 1.3
# server made with openssl on loopback stands in for the remote API.
PORT=8443
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 1 -subj /CN=localhost >"$W/req.log" 2>&1 || fail "openssl req"
openssl s_server -accept 127.0.0.1:$PORT -cert "$W/cert.pem" -key "$W/key.pem" -www -tls1_3 >"$W/server.log" 2>&1 &
pid=$!
get https://localhost:$PORT/ --cacert "$W/cert.pem" --resolve localhost:$PORT:127.0.0.1 >/dev/null
echo "BODY: $(grep -m1 -o 'Protocol *: *TLSv1.3' "$W/body" | tr -s ' ') via curl"
echo "BODY: $(openssl s_client -connect 127.0.0.1:$PORT -CAfile "$W/cert.pem" -verify_return_error -brief </dev/null 2>&1 | grep -m1 -o 'Protocol version: TLSv1.3') via openssl s_client"
kill $pid
