complete -c rnc -s i -l interval -d 'Delay interval for lines sent' -r -f
complete -c rnc -s p -l source-port -d 'Specify local port for remote connects' -r -f
complete -c rnc -s q -l quit-after-eof -d 'Quit after EOF on stdin and delay of seconds' -r -f
complete -c rnc -s s -l source -d 'Local source address' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -s w -l wait -d 'Timeout for connects and final net reads' -r -f
complete -c rnc -s x -d 'Specify proxy address and port' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -s X -l proxy-type -d 'Proxy protocol: "4", "5" (SOCKS) or "connect"' -r -f
complete -c rnc -l proxy -d 'Connect through a proxy (HTTP unless --proxy-type)' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -s P -l proxy-user -d 'Username for proxy authentication' -r -f -a "(__fish_complete_users)"
complete -c rnc -l proxy-auth -d 'Proxy credentials, user:pass' -r -f
complete -c rnc -l proxy-dns -d 'Where the target\'s name is resolved: local, remote, both, none' -r -f
complete -c rnc -s I -l recv-buf -d 'TCP receive buffer length' -r -f
complete -c rnc -s O -l send-buf -d 'TCP send buffer length' -r -f
complete -c rnc -s M -l ttl -d 'Outgoing TTL / Hop Limit' -r -f
complete -c rnc -s m -l min-ttl -d 'Minimum incoming TTL / Hop Limit' -r -f
complete -c rnc -s T -l tos -d 'TOS value' -r -f
complete -c rnc -s V -l rtable -d 'Specify alternate routing table (not on Linux)' -r -f
complete -c rnc -l relay -d 'Relay each connection to a target' -r -f
complete -c rnc -s e -l exec -d 'Run a program for each connection' -r -f -a "(__fish_complete_command)"
complete -c rnc -s c -l sh-exec -d 'Run a shell command for each connection' -r -f -a "(__fish_complete_command)"
complete -c rnc -l allow -d 'Admit only these peers' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -l allowfile -d 'Admit only the peers listed in a file' -r -F
complete -c rnc -l deny -d 'Refuse these peers' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -l denyfile -d 'Refuse the peers listed in a file' -r -F
complete -c rnc -l parallel -d 'Connects in flight at once with -z' -r -f
complete -c rnc -l max-conns -d 'Most clients served at once' -r -f
complete -c rnc -l stall-timeout -d 'Disconnect a client that takes no data for this long' -r -f
complete -c rnc -l ssl-cert -d 'Certificate chain to present (PEM)' -r -F
complete -c rnc -l ssl-key -d 'Private key of --ssl-cert (PEM)' -r -F
complete -c rnc -l ssl-trustfile -d 'Trust these CA certificates (PEM) instead of the system store' -r -F
complete -c rnc -l ssl-servername -d 'Server name to send (SNI) and to verify' -r -f -a "(__fish_print_hostnames)"
complete -c rnc -l ssl-alpn -d 'ALPN protocols, comma-separated, most wanted first' -r -f
complete -c rnc -l ssl-ciphers -d 'Cipher suites to allow, colon- or comma-separated' -r -f
complete -c rnc -l ssl-pin -d 'Accept exactly the certificate with this SHA-256 fingerprint' -r -f
complete -c rnc -l retry -d 'Keep trying to connect for this long' -r -f
complete -c rnc -s o -l output -d 'Log the session\'s data to a file' -r -F
complete -c rnc -l hex-dump -d 'Log the session\'s data as a hex dump' -r -F
complete -c rnc -s 4 -l ipv4 -d 'Use IPv4 addresses only'
complete -c rnc -s 6 -l ipv6 -d 'Use IPv6 addresses only'
complete -c rnc -s C -l crlf -d 'Send CRLF as line-ending'
complete -c rnc -s d -l no-stdin -d 'Detach from stdin'
complete -c rnc -s D -l debug -d 'Enable debugging on the socket'
complete -c rnc -s F -l pass-fd -d 'Pass socket fd'
complete -c rnc -s k -l keep-open -d 'Keep inbound sockets open for multiple connects'
complete -c rnc -s l -l listen -d 'Listen mode, for inbound connects'
complete -c rnc -s N -l send-eof -d 'Shutdown the network socket after EOF on stdin'
complete -c rnc -s n -l nodns -d 'Suppress name/port resolutions'
complete -c rnc -s u -l udp -d 'Use UDP instead of TCP'
complete -c rnc -s U -l unixsock -d 'Use Unix-domain sockets'
complete -c rnc -s v -l verbose -d 'Verbose'
complete -c rnc -s z -l zero-io -d 'Zero-I/O mode [used for scanning]'
complete -c rnc -s b -l broadcast -d 'Allow broadcast'
complete -c rnc -s S -l md5sig -d 'Enable the TCP MD5 signature option'
complete -c rnc -s r -l randomize -d 'Randomize remote ports'
complete -c rnc -l json -d 'JSON output: the ports of -z, or the --stats figures'
complete -c rnc -l echo -d 'Echo server'
complete -c rnc -l chat -d 'Chat server'
complete -c rnc -l broker -d 'Broker: relay raw bytes between clients'
complete -c rnc -l chat-names -d 'Name the sender of each chat line'
complete -c rnc -l ssl -l tls -d 'Speak TLS on the connection'
complete -c rnc -l ssl-verify -d 'Verify the server\'s certificate (the default already)'
complete -c rnc -l ssl-no-verify -d 'Do not verify the server\'s certificate at all'
complete -c rnc -l relay-ssl -l relay-tls -d 'TLS to the --relay target'
complete -c rnc -l stats -d 'Print transfer statistics at exit'
complete -c rnc -l progress -d 'A live progress line on a terminal'
complete -c rnc -l append-output -d 'Append to the -o and --hex-dump files'
complete -c rnc -s h -d 'Print this help (--help for more)'
complete -c rnc -l help -d 'Print the long help'
complete -c rnc -l version -d 'Print the version'

# rnc's operands: a host (a socket path with -U), then ports; option values that are
# ports. Ports complete as service names.
function __rnc_services
    test -r /etc/services; or return
    string replace -rf '^([^#\s]+)\s+(\d+)/tcp.*' '$1'\t'$2/tcp' </etc/services
end

# Prints "unix" when -U is given, then how many operands come before the cursor.
function __rnc_operands
    set -l words (commandline -opc)
    set -e words[1]
    set -l n 0
    set -l unix 0
    set -l skip 0
    set -l operands 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        if test $operands = 1
            set n (math $n + 1)
            continue
        end
        switch $w
            case --
                set operands 1
            case -U --unixsock
                set unix 1
            case -i --interval -p --source-port -q --quit-after-eof -s --source -w --wait -x -X --proxy-type --proxy -P --proxy-user --proxy-auth --proxy-dns -I --recv-buf -O --send-buf -M --ttl -m --min-ttl -T --tos -V --rtable --relay -e --exec -c --sh-exec --allow --allowfile --deny --denyfile --parallel --max-conns --stall-timeout --ssl-cert --ssl-key --ssl-trustfile --ssl-servername --ssl-alpn --ssl-ciphers --ssl-pin --retry -o --output --hex-dump
                set skip 1
            case '--*'
            case '-*'
                set -l chars (string split '' -- (string sub -s 2 -- $w))
                for i in (seq (count $chars))
                    test $chars[$i] = U; and set unix 1
                    if string match -q -- "*$chars[$i]*" 'ipqswxXPIOMmTVeco'
                        test $i = (count $chars); and set skip 1
                        break
                    end
                end
            case '*'
                set n (math $n + 1)
        end
    end
    test $unix = 1; and echo unix
    echo $n
end

function __rnc_wants_host
    set -l o (__rnc_operands)
    test "$o" = 0
end

function __rnc_wants_path
    set -l o (__rnc_operands)
    test "$o[1]" = unix -a "$o[-1]" = 0
end

function __rnc_wants_port
    set -l o (__rnc_operands)
    test "$o[-1]" -gt 0
end

complete -c rnc -s p -l source-port -r -f -a "(__rnc_services)"
complete -c rnc -n __rnc_wants_host -f -a "(__fish_print_hostnames)"
complete -c rnc -n __rnc_wants_path -F
complete -c rnc -n __rnc_wants_port -f -a "(__rnc_services)"
