/* UDP echo server for network tests (tests/integration/net.sh): every
 * datagram on 0.0.0.0:PORT goes back to its sender; busybox has no UDP
 * listener. usage: udpecho PORT [COUNT] (exits after COUNT datagrams). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[65536];
	long left = argc > 2 ? atol(argv[2]) : -1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (argc < 2) {
		fprintf(stderr, "usage: udpecho PORT [COUNT]\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udpecho");
		return 1;
	}
	while (left) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n < 0)
			continue;
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		if (left > 0)
			left--;
	}
	return 0;
}
