{#-
    Personal data never leaves staging in clear: customer ids become a salted hash
    (customer_key) and e-mail addresses and phone numbers in free text are masked.
-#}

{#- Changes when the pseudonym salt changes: models that pseudonymise (or read pseudonyms)
    store it, and an incremental run recomputes every row built with another salt. -#}
{% macro settings_fingerprint() -%}
    md5('{{ var("pseudonym_salt") }}')
{%- endmacro %}

{% macro pseudonymise(expr) -%}
    {{ return(adapter.dispatch('pseudonymise', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__pseudonymise(expr) -%}
    (case when nullif(trim({{ expr }}), '') is not null
          then sha256('{{ var("pseudonym_salt") }}' || ':' || trim({{ expr }})) end)
{%- endmacro %}

{% macro spark__pseudonymise(expr) -%}
    (case when nullif(trim({{ expr }}), '') is not null
          then sha2(concat('{{ var("pseudonym_salt") }}', ':', trim({{ expr }})), 256) end)
{%- endmacro %}

{% macro default__pseudonymise(expr) -%}
    (case when nullif(trim({{ expr }}), '') is not null
          then encode(sha256(convert_to('{{ var("pseudonym_salt") }}' || ':' || trim({{ expr }}), 'UTF8')), 'hex') end)
{%- endmacro %}

{#- E-mail addresses become [email], phone-like digit runs (7+ digits, with spaces,
    dots, dashes, brackets or a leading +) become [phone]. -#}
{% macro mask_personal_data(expr) -%}
    {{ return(adapter.dispatch('mask_personal_data', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{#- Spark: regexp_replace replaces every match (no flags) and string literals read a
    backslash as an escape, so the patterns' backslashes are doubled. -#}
{% macro spark__mask_personal_data(expr) -%}
    regexp_replace(
        regexp_replace(
            {{ expr }},
            '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', '[email]'
        ),
        '\\+?[0-9][0-9 ().-]{5,}[0-9]', '[phone]'
    )
{%- endmacro %}

{% macro default__mask_personal_data(expr) -%}
    regexp_replace(
        regexp_replace(
            {{ expr }},
            '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '[email]', 'g'
        ),
        '\+?[0-9][0-9 ().-]{5,}[0-9]', '[phone]', 'g'
    )
{%- endmacro %}
