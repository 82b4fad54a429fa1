/**
 * The frame buffer convention. A data plane keeps each frame in a slot of a larger buffer and starts it
 * NET_HEADROOM bytes into the slot, so headers can be prepended in place (IPIP adds 20 bytes in front of
 * the IP packet) by moving only the Ethernet header; and leaves NET_TAILROOM bytes after the largest
 * frame it receives, so options can be inserted (TOA adds up to 20 bytes) by moving only the payload.
 * Functions that grow a frame take the slot's bounds and refuse, changing nothing, when room is short.
 */

/** Bytes reserved before a frame: room for an outer IPv4 (20) or IPv6 (40) header plus a VLAN tag. */
export const NET_HEADROOM = 64;
/** Bytes reserved after the largest frame: room for a TOA option (20) and rounding. */
export const NET_TAILROOM = 64;
