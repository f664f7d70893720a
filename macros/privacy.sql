{#-
    Personal data never leaves staging in clear: customer ids become pseudonyms (raw
    `_customer_key`, an HMAC computed at load with the key bound as a parameter, never in
    SQL: orchestration/ingest/pseudonym.py) and e-mail addresses, phone numbers and IBANs
    in free text are masked.
-#}

{#- Names the pseudonym key the rows were built with: models that read pseudonyms store
    it, and an incremental run recomputes every row built with another key. -#}
{% macro settings_fingerprint() -%}
    '{{ var("pseudonym_key_fingerprint") }}'
{%- endmacro %}

{#- sha256 of a text as 64 hex digits, on every engine. -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro spark__sha256_hex(expr) -%}
    sha2({{ expr }}, 256)
{%- endmacro %}

{% macro default__sha256_hex(expr) -%}
    encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}

{#- Personal data in free text: IBANs become [iban], e-mail addresses [email], phone numbers
    [phone], in that order (an IBAN's digit groups are not a phone number). Tested on the
    corpus of tests/data/personal_data_corpus.tsv on DuckDB and PostgreSQL (docs/metrics.md,
    "Personal data"):
    - e-mail: anything but blanks and , ; : < > ( ) [ ] " around @ or the full-width ＠
      (subaddresses, IDN names and domains, a quoted local part), or spelled out with
      " at " / "(at)" / "[at]" and " dot " / "(dot)" / "[dot]" when it ends in a common
      top-level domain (so "look at the dot on the map" stays);
    - phone: 7 or more characters of digits (full-width too) and separators (blanks,
      non-breaking and narrow spaces, dots, dashes and en / em dashes, slashes, brackets),
      starting with a digit, + or (, ending with a digit;
    - IBAN: two capital letters, two check digits and 8 to 31 letters or digits, in groups
      of four with or without a blank.
    The patterns use only what RE2 (DuckDB), PostgreSQL's AREs and Java (Spark) share. -#}
{% macro _iban_pattern() -%}
[A-Z]{2}[0-9]{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?
{%- endmacro %}

{% macro _email_pattern() -%}
(?:"[^"@]+"|[^\s@＠,;:<>()\[\]"]+)[@＠][^\s@＠,;:<>()\[\]".]+(?:(?:\.|\s+(?:dot|DOT|Dot)\s+|\s*[\[(](?:dot|DOT)[\])]\s*)[^\s@＠,;:<>()\[\]".]+)+
{%- endmacro %}

{% macro _spelled_email_pattern() -%}
[^\s@＠,;:<>()\[\]"]+(?:\s+(?:at|AT|At)\s+|\s*[\[(](?:at|AT)[\])]\s*)[^\s@＠,;:<>()\[\]".]+(?:(?:\.|\s+(?:dot|DOT|Dot)\s+|\s*[\[(](?:dot|DOT)[\])]\s*)[^\s@＠,;:<>()\[\]".]+)*(?:\.|\s+(?:dot|DOT|Dot)\s+|\s*[\[(](?:dot|DOT)[\])]\s*)(?:com|org|net|edu|gov|info|biz|io|eu|nl|be|de|fr|uk|es|it|ch|at|se|no|dk|fi|pl|pt|ie|us|ca|au)
{%- endmacro %}

{% macro _phone_pattern() -%}
[+＋(]?[0-9０-９][0-9０-９ ().\-–—/  −]{5,}[0-9０-９]
{%- endmacro %}

{#- [(pattern, replacement)] in the order they apply. -#}
{% macro _personal_data_rules() -%}
    {{ return([
        (_iban_pattern(), '[iban]'),
        (_email_pattern(), '[email]'),
        (_spelled_email_pattern(), '[email]'),
        (_phone_pattern(), '[phone]'),
    ]) }}
{%- endmacro %}

{% macro mask_personal_data(expr) -%}
    {{ return(adapter.dispatch('mask_personal_data', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{#- Spark: regexp_replace replaces every match (no flags) and string literals read a
    backslash as an escape, so the patterns' backslashes are doubled. -#}
{% macro spark__mask_personal_data(expr) -%}
    {%- set masked = namespace(sql=expr) -%}
    {%- for pattern, replacement in _personal_data_rules() -%}
        {%- set masked.sql = "regexp_replace(" ~ masked.sql ~ ", '" ~ pattern | replace('\\', '\\\\') ~ "', '" ~ replacement ~ "')" -%}
    {%- endfor -%}
    {{ masked.sql }}
{%- endmacro %}

{% macro default__mask_personal_data(expr) -%}
    {%- set masked = namespace(sql=expr) -%}
    {%- for pattern, replacement in _personal_data_rules() -%}
        {%- set masked.sql = "regexp_replace(" ~ masked.sql ~ ", '" ~ pattern ~ "', '" ~ replacement ~ "', 'g')" -%}
    {%- endfor -%}
    {{ masked.sql }}
{%- endmacro %}

{#- An identifier (response, interaction, ticket id) that holds an e-mail address or a phone
    number written with + (an id some systems make of the customer's contact) is replaced
    by 'masked-' and its sha256: unique as the id was, and the same in every table, so
    joins and re-sends hold; any other id is kept as sent. Unkeyed (the key never enters
    SQL): whoever already knows the exact contact can confirm it, nobody can read it. -#}
{% macro mask_identifier(expr) -%}
    (case
        when {{ matches_personal_identifier(expr) }}
            then 'masked-' || {{ sha256_hex("'ces-masked-id:' || trim(" ~ expr ~ ")") }}
        else {{ expr }}
    end)
{%- endmacro %}

{% macro matches_personal_identifier(expr) -%}
    {{ return(adapter.dispatch('matches_personal_identifier', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro _identifier_pattern() -%}
[@＠]|[+＋][0-9０-９ ().\-–—/  −]{6,}
{%- endmacro %}

{% macro default__matches_personal_identifier(expr) -%}
    coalesce({{ expr }} ~ '{{ _identifier_pattern() }}', false)
{%- endmacro %}

{% macro duckdb__matches_personal_identifier(expr) -%}
    coalesce(regexp_matches({{ expr }}, '{{ _identifier_pattern() }}'), false)
{%- endmacro %}

{% macro spark__matches_personal_identifier(expr) -%}
    coalesce({{ expr }} rlike '{{ _identifier_pattern() | replace('\\', '\\\\') }}', false)
{%- endmacro %}
