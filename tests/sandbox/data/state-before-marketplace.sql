-- A state folder's database as the sandbox wrote it before the Marketplace (dealers, locations,
-- subscription statuses) existed: test data only, its keys and secrets are this fixture's own.
BEGIN TRANSACTION;
CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT, api_key TEXT NOT NULL, exp REAL NOT NULL, revoked REAL);
CREATE TABLE activity (
    api_key TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (api_key, kind));
CREATE TABLE apps (
    api_key TEXT PRIMARY KEY, name TEXT NOT NULL, secret_digest TEXT NOT NULL,
    redirect_uris TEXT NOT NULL, public INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    consent INTEGER NOT NULL DEFAULT 0, logout_uris TEXT, rate_limit INTEGER, rotation TEXT, leeway REAL);
INSERT INTO "apps" VALUES('aOEg68Gz9R83e1SfqLzMeyiZYAGbpXLI','Sandbox Demo App','febb950e317dd59d4ec749ff449adc946fafbc929255ad8c594c8f41794c6c3f','["{sandbox}/callback/", "https://example.com/"]',0,1.79655120227154541014e+09,0,'["{sandbox}/signed-out/", "https://example.com/"]',NULL,NULL,NULL);
INSERT INTO "apps" VALUES('eUcppiiva7KQKLxLpOKBmgvXoHtUSN2D','Sandbox Consent App','4f655b1bbd9579128ceb1cbbb05fa930fceec51e8606e001857ac8eb704a016e','["{sandbox}/callback/", "https://example.com/"]',0,1.79655120233241581912e+09,1,'["{sandbox}/signed-out/", "https://example.com/"]',NULL,NULL,NULL);
CREATE TABLE codes (
    digest TEXT PRIMARY KEY, api_key TEXT NOT NULL, user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, scopes TEXT NOT NULL, nonce TEXT, code_challenge TEXT,
    auth_time REAL NOT NULL, expires REAL NOT NULL, used REAL, grant_id TEXT, issued REAL);
CREATE TABLE grants (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, user_id TEXT NOT NULL, scopes TEXT NOT NULL,
    auth_time REAL NOT NULL, created REAL NOT NULL, revoked REAL,
    refresh_digest TEXT UNIQUE, refresh_used REAL, previous_digest TEXT, rotated REAL);
CREATE TABLE id_tokens (jti TEXT PRIMARY KEY, api_key TEXT NOT NULL, exp REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('server_id','aus9NrUptfx8nmYN9IzB');
INSERT INTO "meta" VALUES('idp_id','00oRrNwqpfxRpcosGisj');
INSERT INTO "meta" VALUES('admin_token','GI3ghSN7-61oIPXjIZrEyfTNrDsgYaHvN6NiqYnSiOI');
INSERT INTO "meta" VALUES('demo_api_key','aOEg68Gz9R83e1SfqLzMeyiZYAGbpXLI');
INSERT INTO "meta" VALUES('demo_api_secret','CJrYFu428VJIsPqtMObztrcU5jw8WUCXPSEfoiEj');
INSERT INTO "meta" VALUES('demo_subscription_id','c8ba3734-d91e-4cf7-9097-93925d35bd0e');
INSERT INTO "meta" VALUES('consent_api_key','eUcppiiva7KQKLxLpOKBmgvXoHtUSN2D');
INSERT INTO "meta" VALUES('consent_api_secret','73mYSO2MkGSVXvyF1DQt9EHvIux1zYIACHM3Icjm');
CREATE TABLE sessions (
    digest TEXT PRIMARY KEY, user_id TEXT NOT NULL, auth_time REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, created REAL NOT NULL, retired REAL, activated REAL);
INSERT INTO "signing_keys" VALUES('8ow89TNTUvfJj2-Jj_FgrY1-oHKmGYB2EFgC3YC92zc','-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCnLD5S0sLoABZ5
UI8GGsg+Dsf9r7tGiyRNSTqK91gdLRTPdM3j3Wv2or1+PRK6GyeKgz/PTxTazLAT
tZ/KO3DGnBj6BcOWzH2v8xdz/jWaMf79Ky+Z8DY9e/aQqRCPBg/tXvhCCTDBWmei
LPnvuRgse7HHspZ95G2I/gjqSUzsh7Bgs70TCiCyNeGocO+HZHdp1IAM1To3+H8N
GfAXwnqoht+Q3xqzpVQjat1mcZytuCRKk1xoBpFRYam2KZ7r05R5I17nXDHSulAW
f4EMvuKiFfFUpwbJ+ZH6IwI6DS+fdxHN2BqEklliGUALnlkUepBC/MWfLy9uHNzI
qD8rmPYzAgMBAAECggEAQtMzSJ1aby4VzcHPomOTVwdGl5inNoBJbyGOJt3P2b3b
G0C4StWIoksUj4FvWnifWkWz/LVCg2IeIorQSKFxJ9tfOpaSRFYTCgIVBneAStag
dOhN+22j6PkEK3iBl4KXXE5B0/fjhu8SDSiIcnTdfm6ltsujT8i/pmrR+oF5n/TJ
kRgwTeEN3qvslNmpjS/7Jhbqqy3z/AnjcX/l3d66EkOSEl/0r4PV9iWsLhAzzW/E
n2/ZmxFHwaymma7O70Wka8WQbsZgRLdBXdi6TT/uKCtZUmGj3BXr4B9mQNf+Moh/
ck4+2HNDBwHG+lnDHWjRT/qIHpXnJpMz4jTLaVll1QKBgQDifVG7bRPHmAL+Oh+D
odm4zyaNmqkC765Ud3IwHgFtKGneifNIQxN5Ttx9HXzh0dyf0zRck0uNwa540NE5
qPd5y6YxruLc+xYw3YeKYVut5v9AmLYKMayVhAKEtZY45ofFQ+ha4/D1WlwaJXHl
ftZRyOfi4UV44UWcP7NSh7lJJwKBgQC89GIsbdpxH9lWBMsle0vg42lJeAthdAUz
f2f5iNVuwrAi+GjbrKq4PiP3Z86dp3Cwr+gl2/Z+EUgPByv04hyx2ud1gA4fil1P
FFyvq/n5GL9iGOMr9k3MMUzxqgaMEQRZED6vRvFSBxiHxMGWCKXkscX3eMp/ztyD
wcdbU0gaFQKBgGrs9xUhHeFw5pjXH+GpG3ygb3cSuQ/lz8uYyJPm1o2OMs0ZG33W
DO+MR5PZxAdoaFwb/fBmqZi3A4OOMfiiyJL7je6OvhPNhmBzdXXjGME0+PSqI+cU
JIJB3F6Cy/T5AMgkkyG10yBCFJFTdD4Ab3YU/0ShTYcP8ykc+a/Q26ypAoGAOxls
w1ywoAVIIuFo8JY5y2MVgUcsuBRjtBG7YY7swrHeCXIMyfidhPbapP0w4JqIYpsC
TyUXWaLqGNkzZGp8cxx2nIeq4y6RtLQ3sTJnAwQ8h+Ak3ZEyEBWzbTqyxYhlBb5Q
/N2BiRhzEbP2oIif6oG324lKPONkkUlAo03PFWkCgYB25N4i//T+V/iPwu0cBQGq
1b4GQXSI2ya8SVQDkxcIqFhIwkproA+BXRJMcD6Uff0s7m0xFeKeenCjTVxvAs6w
EjlXGTnmi+X8QuipF8/EKFk2Fdup2vb6ey/84Dhwu6aYNNv5kYXspXLwX8U2c0RX
kJECSKFkz9qjniGWqryi3Q==
-----END PRIVATE KEY-----
',1.79655120227154541014e+09,NULL,1.79655120227154541014e+09);
INSERT INTO "signing_keys" VALUES('l6OI0XXqP2pDYU-hH4N7Tj25YYE5JfrItHUiQ0Pou1A','-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCwXNs4Kqo0TED3
c66kgJu2h9qZYmM93V+NCE8xrZiOrEw5qEOmWoA8RxkgOolQo3/AG4da5kv6WNua
F4UaiB4bjm9jzM3zkW+kAgPfdIFGnVDzvB+WsX1DrVR5NaOxP9p60n7cSlLuNVY4
iM1mZiGT13grkAWQd1xSzTCLS6TTv+cAyKWO+gAp8gMvm0Vz5Sgx50/c2vl30RtM
Z0URK7//3V8zI+QT2vf2qavmHUyFmkXeCWG+7IyzJSZX0Zid45Wrag0WlRhVwVok
sh8oecqEoGjUmNWRsfWXQPYvWkBxPttpzCtqtIUymhIFQ5szW4I5ThyFgNHG95X/
BIvMeR7JAgMBAAECggEACcAs+C5lBlH4THKLvGB/Qo35+DZ0oWtiJRYtBdZH8Ck2
2eOqpPNmitlJdvPcrKzzsHzf0RbuKo/SyUfuZQ4TbIIMxuFHZRAXJFV7E6stDJOV
8c9mlbNdA6q2Ar+SgyP5Wr9jWvS3A9mNoKNUiFFO5kbMSAS98gPBLV4eFJSZkoHa
uL0Fv8T+wPg6hCwM3Akq7WJ7Jvap8ioIPOWyJYEXTe6jMKCsvuoJ65PP7UCc25e1
7pbTqECOrdQZYPfoUMlnB+s9XGuTzDCm91wR/+xFqJ3f7gT97QhSOEyuljFzlNkx
ajx3evXhAUQ3N47KiwtBFJAvPJxJzIIUGT8jcATYGwKBgQD3HfHxkERa5n5tB9ou
P4afwh3i16yM0/5euAoGzPjF4WILa2AJY+y6M2e8OrSdhJs35BK/2BKKKyCMqY0X
KocLKUOoCgoghqIuuUxPB4vDXoiPXyo+itb1JjJ2UvUpEF9MwTN13M/5r4Vh7GRZ
t3WK/GzHNLkN0IbZumEw+CX1qwKBgQC2s85wDNmmJSuk4qriT7y3/lyCVmiu9IRr
+nUOyCsV2jBXUFdXcda3zFPptusiiXW8kWVOpf1WPRJf5fPfHx/3QSySnLp+XeC6
xpRZ7JrANc6VeK3/B2M1fyqghNOnesmAx8s50PKWaeC0bkgzzQdxMTo6TDm1zK2O
LxSPz69hWwKBgERYxef37M/vXBwvxcpwy304JSfuWs0AfSQZZryGyG+CbKmX4xH1
zy2YtiI7YmUGnh+RNxZUXpxUXUZKRrmXi44stYeubyqb0hN2MILTJXa9mKt+uKJf
qCBZli9ftmrLGnCSJvd8QRFf2FZDGWYu9ZWhRzy5ek011XY2tFbk6yrNAoGBALAg
QiBOovrB1oMLaATnLVyKPw/+0MfoPEgDmBj56l8UiYmCj9Bik8V3mmUxyxbuQKvZ
1jmtVr1t/mqoOSKc1Kn9EET+BeKQCXbEvHq71qr4s//v6Hxz2LXXs3Yu1gMcIWie
MlG4FkPeKZqGveACBOyfsixFE1UozR7GUCIa6k0FAoGAL2VgbLl+sPqieIWttz6b
6RuFYf83JSeT4hkHB0RQPs221IALy3UTp8cwQs95yGx6KN9fBZGm1VS9UTFqJ1ip
EXJP0rtmNXb6RW1RLcHYUNSZ6c01VH1Q1qewIJ8Y8xLFfaGRIIKuymYvEUC1b4GI
YcdiZ2oFQJprkiOTLg5sMts=
-----END PRIVATE KEY-----
',1.796551202337262392e+09,NULL,NULL);
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY, api_key TEXT, dealership TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
INSERT INTO "subscriptions" VALUES('c8ba3734-d91e-4cf7-9097-93925d35bd0e','aOEg68Gz9R83e1SfqLzMeyiZYAGbpXLI','Sandbox Motors',1);
INSERT INTO "subscriptions" VALUES('59cee71f-3c09-4cc2-bf40-33d66f685785','aOEg68Gz9R83e1SfqLzMeyiZYAGbpXLI','Closed Motors (subscription inactive)',0);
INSERT INTO "subscriptions" VALUES('test',NULL,'Test Dealership',1);
CREATE TABLE transactions (
    id TEXT PRIMARY KEY, request TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
    password_hash TEXT NOT NULL, assigned INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL, email TEXT, claims TEXT);
INSERT INTO "users" VALUES('00uYynMmlq1klX4SGi7x','learner@example.com','Lee Learner','pbkdf2_sha256$20000$5200973a135b85572a0b0f3f4c95a890$915ee238ad013b16dbef81f7e6616983f733bd370001f38875eddf532906adff',1,1.79655120227154541014e+09,NULL,'{}');
INSERT INTO "users" VALUES('00ufivPmF975FqWLGdeg','dealer@example.com','Dana Dealer','pbkdf2_sha256$20000$5667823e6b894e610adfd629cef19f6a$60b0df51446a3b6068a47e703920ba5dfce452deffe7bf55bd13d0da12f6041d',1,1.79655120227154541014e+09,NULL,'{}');
INSERT INTO "users" VALUES('00uai6y970sjwGBTHhgg','unassigned@example.com','Uma Unassigned','pbkdf2_sha256$20000$f3538ef37ff874b729ccc01dad69fa9a$6e611f555526a954bcbcff55eb0a41fff8a9a5eda12aac901b0778c2ed373f64',0,1.79655120227154541014e+09,NULL,'{}');
CREATE INDEX apps_by_secret ON apps(secret_digest);
CREATE INDEX access_tokens_by_grant ON access_tokens(grant_id);
COMMIT;
