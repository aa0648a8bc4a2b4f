# bash completion for haadm: source it (. $HAHOME/etc/haadm.bash), or copy it to
# /etc/bash_completion.d/haadm. Service and link names come from `haadm status`.
_haadm() {
    local cur prev words cword
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local first=${COMP_WORDS[1]}
    [ "$first" = "-H" ] && first=${COMP_WORDS[3]}
    case "$COMP_CWORD:$prev" in
    1:*) COMPREPLY=($(compgen -W "status check service privnet network license lock unlock reload stop events export why drill help -H" -- "$cur")); return ;;
    *:-H) return ;;
    *:service) COMPREPLY=($(compgen -W "state review create remove bringin bringout takeover failover" -- "$cur")); return ;;
    *:privnet) COMPREPLY=($(compgen -W "state review remove create-socket create-rs232 create-disk" -- "$cur")); return ;;
    *:check) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    local kind
    case "$prev" in
    why|drill)
        COMPREPLY=($(compgen -W "$(haadm status 2>/dev/null | awk '$1 == "SERVICE" { print $2 }')" -- "$cur"))
        ;;
    state|review|remove|bringin|bringout|takeover|failover)
        if [ "${COMP_WORDS[COMP_CWORD-2]}" = privnet ]; then kind=LINK; else kind=SERVICE; fi
        COMPREPLY=($(compgen -W "$(haadm status 2>/dev/null | awk -v k="$kind" '$1 == k { print $2 }')" -- "$cur"))
        ;;
    esac
}
complete -F _haadm haadm
