package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd starts three etcd members, each its own process, under dir.
func startEtcd(ctx context.Context, dir string, useTLS bool) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
		if err := writeEtcdCerts(dir); err != nil {
			return nil, err
		}
	}
	addrs, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=%s://%s", i+1, scheme, addrs[3+i]))
	}
	c := &cluster{}
	var endpoints []string
	for i := range 3 {
		args := []string{"etcd", "-dir", filepath.Join(dir, fmt.Sprintf("m%d", i+1)), "-name", fmt.Sprintf("m%d", i+1),
			"-client", scheme + "://" + addrs[i], "-peer", scheme + "://" + addrs[3+i],
			"-cluster", strings.Join(initial, ","), "-certs", dir, fmt.Sprintf("-tls=%v", useTLS)}
		p, err := spawn(args...)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
		endpoints = append(endpoints, scheme+"://"+addrs[i])
	}
	var tlsCfg *tls.Config
	if useTLS {
		tlsCfg, err = etcdClientTLS(dir)
		if err != nil {
			c.stop()
			return nil, err
		}
	}
	c.client = func(ctx context.Context, i int) (putter, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsCfg})
		if err != nil {
			return nil, err
		}
		return etcdClient{cli}, nil
	}
	if err := waitReady(ctx, c); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

type etcdClient struct{ cli *clientv3.Client }

func (e etcdClient) Put(ctx context.Context, key string, value []byte) error {
	_, err := e.cli.Put(ctx, key, string(value))
	return err
}

func (e etcdClient) Close() { e.cli.Close() }

// writeEtcdCerts makes a CA and one certificate for 127.0.0.1 that every
// member and client uses (server and client auth), as PEM files in dir.
func writeEtcdCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for name, blk := range map[string]*pem.Block{
		"ca.pem":  {Type: "CERTIFICATE", Bytes: caDER},
		"crt.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func etcdTLSInfo(dir string) transport.TLSInfo {
	return transport.TLSInfo{CertFile: filepath.Join(dir, "crt.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		TrustedCAFile: filepath.Join(dir, "ca.pem"), ClientCertAuth: true}
}

func etcdClientTLS(dir string) (*tls.Config, error) {
	info := etcdTLSInfo(dir)
	info.ClientCertAuth = false
	return info.ClientConfig()
}

// serveEtcd is one etcd member process: it runs until SIGTERM.
func serveEtcd(args []string) int {
	fs := flag.NewFlagSet("serve etcd", flag.ContinueOnError)
	dir := fs.String("dir", "", "data dir")
	name := fs.String("name", "", "member name")
	client := fs.String("client", "", "client URL")
	peer := fs.String("peer", "", "peer URL")
	initial := fs.String("cluster", "", "initial cluster")
	certs := fs.String("certs", "", "dir of ca.pem, crt.pem, key.pem")
	useTLS := fs.Bool("tls", false, "mutual TLS on client and peer URLs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = *name, *dir
	cu, err1 := url.Parse(*client)
	pu, err2 := url.Parse(*peer)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "etcd member: bad URL")
		return 2
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster, cfg.InitialClusterToken, cfg.ClusterState = *initial, "bench", embed.ClusterStateFlagNew
	cfg.LogLevel = "fatal" // shutdown logs accept errors at level error
	if *useTLS {
		cfg.ClientTLSInfo, cfg.PeerTLSInfo = etcdTLSInfo(*certs), etcdTLSInfo(*certs)
	}
	stopProfile, err := startCPUProfile("etcd-" + *name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd member %s: %v\n", *name, err)
		return 1
	}
	defer stopProfile()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd member %s: %v\n", *name, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintf(os.Stderr, "etcd member %s: not ready in 60 s\n", *name)
	case <-ctx.Done():
	}
	select {
	case <-ctx.Done():
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd member %s: %v\n", *name, err)
	}
	e.Close()
	return 0
}
