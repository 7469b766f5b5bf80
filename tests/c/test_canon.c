/*
** test_canon.c — canonical JSON and SHA-256.
**
** Every expected digest below is FIXED: it was computed independently with
**   /usr/bin/python3 -c 'import hashlib,sys; print(hashlib.sha256(T.encode()).hexdigest())'
** over the canonical text T written by hand next to it (the SHA-256 vectors
** are FIPS 180-4 / NIST ones, confirmed the same way). Do not regenerate
** them from this code's output.
*/
#include "../../core/lf_canon.h"
#include "lf_test.h"
#include "../../core/lf_sha256.h"

#include <math.h>
#include <stdlib.h>

static void hex_of(const uint8_t d[32], char hex[65]){
  static const char digits[] = "0123456789abcdef";
  int i;
  for(i = 0; i < 32; i++){
    hex[2*i] = digits[d[i] >> 4];
    hex[2*i+1] = digits[d[i] & 15];
  }
  hex[64] = 0;
}

static void check_sha(const char *name, const void *data, size_t len,
                      const char *want){
  uint8_t d[32];
  char hex[65];
  lf_sha256(data, len, d);
  hex_of(d, hex);
  CHECK(strcmp(hex, want) == 0, "sha256 %s (got %s)", name, hex);
}

/* Parses json, checks its canonical text and its config hash. */
static void check_canon(const char *name, const char *json,
                        const char *want_text, const char *want_hex){
  cJSON *v = cJSON_Parse(json);
  char *text;
  char hex[65] = "";
  CHECK(v != NULL, "canon %s: input parses", name);
  if( v == NULL ) return;
  text = lf_canon_json(v);
  CHECK(text && strcmp(text, want_text) == 0, "canon %s: text (got %s)",
        name, text ? text : "(null)");
  CHECK(lf_config_hash(v, hex) == 0 && strcmp(hex, want_hex) == 0,
        "canon %s: digest (got %s)", name, hex);
  free(text);
  cJSON_Delete(v);
}

/* A node built in C rather than parsed (NaN, -0.0 cannot come from text). */
static void check_built(const char *name, cJSON *v, const char *want_text){
  char *text = lf_canon_json(v);
  CHECK(text && strcmp(text, want_text) == 0, "canon %s: text (got %s)",
        name, text ? text : "(null)");
  free(text);
  cJSON_Delete(v);
}

int main(void){
  /* ---- SHA-256 ---- */
  {
    char *m = malloc(1000000);
    check_sha("empty", "", 0,
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha("abc", "abc", 3,
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_sha("448-bit NIST",
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    if( m ){
      memset(m, 'a', 1000000);
      check_sha("million a", m, 1000000,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
      /* Padding boundaries: the length field fits / spills into a 2nd block. */
      check_sha("55 a", m, 55,
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
      check_sha("56 a", m, 56,
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
      check_sha("63 a", m, 63,
        "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
      check_sha("64 a", m, 64,
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
      check_sha("119 a", m, 119,
        "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
      check_sha("120 a", m, 120,
        "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
    }
    free(m);
  }

  /* ---- key order ---- */
  /* T = {"a":2,"b":1} */
#define H_KEYS "d3626ac30a87e6f7a6428233b3c68299976865fa5508e4267c5415c76af7a772"
  check_canon("b,a", "{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}", H_KEYS);
  check_canon("a,b", "{\"a\":2,\"b\":1}", "{\"a\":2,\"b\":1}", H_KEYS);
  check_canon("a,b spaced", " {\n\t\"a\" : 2 ,\r\n \"b\":1 } ",
              "{\"a\":2,\"b\":1}", H_KEYS);

  /* Sorted by UTF-8 bytes, not UTF-16 units: U+FF01 (EF BC 81) sorts before
  ** U+1F600 (F0 9F 98 80) although its UTF-16 unit 0xFF01 > 0xD83D.
  ** T = {"Z":3,"a":4,"z":2,"é":1,"！":5,"😀":6} */
  check_canon("utf8 key order",
    "{\"é\":1,\"z\":2,\"Z\":3,\"a\":4,\"\\ud83d\\ude00\":6,\"\\uff01\":5}",
    "{\"Z\":3,\"a\":4,\"z\":2,\"é\":1,\"！\":5,\"😀\":6}",
    "116058d2ffd77542fc8185c978ff34c5ac18e9220e7a2e2d67645f794a8fa45c");

  /* Duplicate keys: the last occurrence wins. */
  check_canon("dup", "{\"a\":1,\"a\":2}", "{\"a\":2}",
    "7e8059f495589fcd981232cc11d00b00da3802c01d688fa1cf1f6bed6e5bb33c");
  check_canon("dup among others", "{\"b\":0,\"a\":1,\"c\":3,\"a\":2}",
    "{\"a\":2,\"b\":0,\"c\":3}",
    "32ec3f54798c97a2a979b4a817dc1789baf025fdde137681fe8939d90b6afed4");

  /* ---- numbers ---- */
  /* T = 1 */
#define H_ONE "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
  check_canon("1", "1", "1", H_ONE);
  check_canon("1.0", "1.0", "1", H_ONE);
  check_canon("1e0", "1e0", "1", H_ONE);
  check_canon("10e-1", "10e-1", "1", H_ONE);
  /* T = {"x":1} */
#define H_X1 "5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22"
  check_canon("x 1", "{\"x\":1}", "{\"x\":1}", H_X1);
  check_canon("x 1.0", "{\"x\":1.0}", "{\"x\":1}", H_X1);
  check_canon("x 1e0", "{\"x\":1e0}", "{\"x\":1}", H_X1);
  /* T = 0.1 */
  check_canon("0.1", "0.1", "0.1",
    "14be4b45f18e0d8c67b4f719b5144eee88497e413709d11d85b096d8e2346310");
  /* T = 1e-07 (C's %g exponent has at least two digits) */
  check_canon("1e-7", "1e-7", "1e-07",
    "e485fac25775a7da830698e7daac582737fc8b43ba4b351467a16cf8ed83122a");
  /* Beyond 2^53: the nearest double is 123456789012345680, which needs 17
  ** digits. T = 1.2345678901234568e+17 */
  check_canon("123456789012345678", "123456789012345678",
    "1.2345678901234568e+17",
    "9555eaa95711887fbf7ea4ed9f0e17bc0f580f26739f90722ddfbea81e9ab2e9");
  /* T = 0 */
#define H_ZERO "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
  check_canon("-0", "-0", "0", H_ZERO);
  check_canon("-0.0", "-0.0", "0", H_ZERO);
  check_canon("0", "0", "0", H_ZERO);
  /* T = {"z":0} */
  check_canon("z -0.0", "{\"z\":-0.0}", "{\"z\":0}",
    "e313adcae40818c4a48a6f5a32c7ab937365ffb0962282a5bf1a629f8d456b63");
  /* ±2^53 stay integers; 2^53+2 and 1e20 go through %g; the others need
  ** 15 and 17 digits. */
  check_canon("scalars",
    "[true, false, null, 9007199254740992, -9007199254740992.0, "
    "9007199254740994, 1E20, 0.30000000000000004, 15e-1, -1.5e-300, 1e300]",
    "[true,false,null,9007199254740992,-9007199254740992,9007199254740994,"
    "1e+20,0.30000000000000004,1.5,-1.5e-300,1e+300]",
    "9138838051b579f854784eb8a75e65a1a64361f15b6023863f2782d755dbe7a7");

  /* ---- a LabFlow config: two key orders, two layouts ---- */
  /* T = {"model":{"args":{"layers":[{"args":{"out":10},"loc":"Linear"}]},
  **      "loc":"Sequential"},"optimizer":{"args":{"lr":0.001},"loc":"Adam"}} */
#define T_CONFIG "{\"model\":{\"args\":{\"layers\":[{\"args\":{\"out\":10}," \
  "\"loc\":\"Linear\"}]},\"loc\":\"Sequential\"},\"optimizer\":{\"args\":" \
  "{\"lr\":0.001},\"loc\":\"Adam\"}}"
#define H_CONFIG "053665b2869792f6b7ff8cc1687cdbabde69ca493d1b0b072dd36e2ea7c46d59"
  check_canon("config",
    "{\"model\":{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"Linear\","
    "\"args\":{\"out\":10}}]}},\"optimizer\":{\"loc\":\"Adam\",\"args\":{\"lr\":0.001}}}",
    T_CONFIG, H_CONFIG);
  check_canon("config reordered",
    "{\"optimizer\":{\"args\":{\"lr\":1e-3},\"loc\":\"Adam\"},\"model\":{\"args\":"
    "{\"layers\":[{\"args\":{\"out\":10.0},\"loc\":\"Linear\"}]},\"loc\":\"Sequential\"}}",
    T_CONFIG, H_CONFIG);
  check_canon("config pretty",
    "{\n"
    "  \"model\": {\n"
    "    \"loc\": \"Sequential\",\n"
    "    \"args\": { \"layers\": [ { \"loc\": \"Linear\", \"args\": { \"out\": 10 } } ] }\n"
    "  },\n"
    "  \"optimizer\": { \"loc\": \"Adam\", \"args\": { \"lr\": 0.001 } }\n"
    "}\n",
    T_CONFIG, H_CONFIG);

  /* ---- arrays keep their order (only object keys are sorted) ---- */
  /* T = [3,1,2,[],{"a":null,"b":[2,1]}] */
  check_canon("array order", "[3, 1, 2, [], {\"b\": [2, 1], \"a\": null}]",
    "[3,1,2,[],{\"a\":null,\"b\":[2,1]}]",
    "0a9db70c724d3da7c2017811beec4ceba04a9cbb50c8567981cd00dc5010bdd9");

  /* ---- strings ---- */
  /* T = {"name":"ünïcødé ✓ 😀"} as raw UTF-8 */
#define H_UNI "b3d5e28277ce2d4a201d1a4850c3682a85c91992e2495996a4ee8124fb62a5d1"
  check_canon("unicode raw", "{\"name\":\"ünïcødé ✓ 😀\"}",
    "{\"name\":\"ünïcødé ✓ 😀\"}", H_UNI);
  check_canon("unicode escaped",
    "{\"name\":\"\\u00fcn\\u00efc\\u00f8d\\u00e9 \\u2713 \\ud83d\\ude00\"}",
    "{\"name\":\"ünïcødé ✓ 😀\"}", H_UNI);
  /* Quotes, backslash, the five short escapes, other controls as \u00xx,
  ** while "\/" becomes "/" and DEL (0x7f) is kept raw.
  ** T = {"s":"a\"b\\c/d\b\f\n\r\t\u0001\u001f<0x7f>"} */
  check_canon("controls and quotes",
    "{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001F\\u007f\"}",
    "{\"s\":\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"}",
    "471dee79a45d110422bb9f7a43861d496cdddc35e923d88befb45890b2c21f1e");

  /* ---- empty containers ---- */
  check_canon("{}", " { } ", "{}",
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  check_canon("[]", "[ ]", "[]",
    "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945");
  check_canon("nested empties", "{\"b\":[],\"a\":{}}", "{\"a\":{},\"b\":[]}",
    "aeeba1e56a144077f89e26c930dad7cf933e9383cfb8e33ddff618233b29be76");

  /* ---- values only C can build ---- */
  check_built("NaN is null", cJSON_CreateNumber(NAN), "null");
  check_built("Inf is null", cJSON_CreateNumber(-INFINITY), "null");
  check_built("built -0.0", cJSON_CreateNumber(-0.0), "0");
  {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateRaw("[1 , 2]"));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(0.0));
    check_built("raw is null", a, "[null,0]");
  }
  {
    char *t = lf_canon_json(NULL);
    CHECK(t && strcmp(t, "null") == 0, "canon NULL tree is null");
    free(t);
  }

  TEST_EXIT();
}
