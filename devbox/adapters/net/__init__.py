"""Network adapters: netlink, network namespaces, DHCP, ARP, socket relays."""
