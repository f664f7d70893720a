{#- Every answer is either accepted (a position, no reason) or rejected (a reason, no
    position): never both, never neither. -#}
{% test accepted_xor_rejected(model) %}

select response_id, scale_position, reject_reason
from {{ model }}
where (scale_position is null) = (reject_reason is null)

{% endtest %}
